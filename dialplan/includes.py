"""Does a PBX's own configuration include the generated files? (`implus dialplan check`)

Read from a copy or the live configuration folder of the PBX (`--pbx-config PBX=DIR`, or
the PBX's `config_dir` when that folder exists here), the way the PBX reads it:
- Asterisk: from extensions.conf, pjsip.conf and manager.conf, every `#include` /
  `#tryinclude` outside comments; a relative path is relative to the config folder.
- FreeSWITCH: from freeswitch.xml, every line its pre-processor takes as
  `<X-PRE-PROCESS cmd="include" data="..."/>` (comments too: it acts before XML parsing);
  a relative pattern is relative to the including file's folder. The pre-processor
  replaces the WHOLE line with the included files, so an include sharing its line with
  `<gateways>` or a comment end loses them.
Problems are warnings: `check` still passes, the admin is told what to add where.
"""

from __future__ import annotations

import fnmatch
import glob
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from admin_config.model import AdminConfig, AsteriskPbx, FreeswitchPbx, Pbx
from admin_config.problems import Problem, warning
from dialplan import render_asterisk, render_freeswitch

_AST_INCLUDE = re.compile(r'^\s*#\s*(?:try)?include\s+"?([^"\s]+)"?', re.IGNORECASE)
_FS_DIRECTIVE = re.compile(r"<x-pre-process\b([^>]*?)/?>", re.IGNORECASE)
_FS_ATTR = r'{}\s*=\s*"([^"]*)"'


@dataclass
class _Reach:
    """Files read and include patterns met, from a PBX's main configuration files."""

    files: set[Path] = field(default_factory=set)
    patterns: list[str] = field(default_factory=list)
    problems: list[tuple[Path, int | None, str]] = field(default_factory=list)

    def includes(self, path: Path) -> bool:
        return any(_glob_matches(p, str(path)) for p in self.patterns)


def _glob_matches(pattern: str, path: str) -> bool:
    """Shell-glob match where `*` stays within one folder (as glob(3) does)."""
    parts, names = pattern.split("/"), path.split("/")
    return len(parts) == len(names) and all(
        fnmatch.fnmatchcase(n, p) for p, n in zip(parts, names, strict=True)
    )


def _resolve(target: str, base: Path, folder: Path, install_dir: str) -> str:
    """An include target as a pattern inside `folder` (the PBX's own paths map onto it)."""
    prefix = install_dir.rstrip("/") + "/"
    if target.startswith(prefix):
        return os.path.normpath(folder / target[len(prefix) :])
    if target.startswith("/"):
        return os.path.normpath(target)
    return os.path.normpath(base / target)  # sofia.conf.xml: ../sip_profiles/*.xml


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


# --- Asterisk ----------------------------------------------------------------------------


def _asterisk_code(text: str) -> Iterator[str]:
    """Each line without its comments (`;` unless escaped, `;-- ... --;` blocks)."""
    depth = 0
    for raw in text.splitlines():
        out, i = "", 0
        while i < len(raw):
            if raw.startswith(";--", i):
                depth, i = depth + 1, i + 3
            elif depth and raw.startswith("--;", i):
                depth, i = depth - 1, i + 3
            elif depth:
                i += 1
            elif raw[i] == ";" and (i == 0 or raw[i - 1] != "\\"):
                break
            else:
                out, i = out + raw[i], i + 1
        yield out


def _asterisk_reach(folder: Path, main: str, install_dir: str) -> _Reach:
    reach = _Reach()
    stack = [folder / main]
    while stack:
        path = stack.pop()
        if path in reach.files or not path.is_file():
            continue
        reach.files.add(path)
        for line in _asterisk_code(_read(path)):
            if m := _AST_INCLUDE.match(line):
                pattern = _resolve(m.group(1), folder, folder, install_dir)
                reach.patterns.append(pattern)
                stack += [Path(p) for p in sorted(glob.glob(pattern))]
    return reach


#: Generated file -> (the main file that must include it, how).
_ASTERISK_HINTS = {
    render_asterisk.EXTENSIONS: ("extensions.conf", "add `#include extensions_implus.conf`"),
    render_asterisk.PJSIP: ("pjsip.conf", "add `#include pjsip_implus.conf`"),
    render_asterisk.MANAGER: (
        "manager.conf",
        "add `#include manager_implus.conf` at its end (the bridge's AMI user)",
    ),
}


def _not_a_config_folder(pbx: Pbx, folder: Path, main: str) -> tuple[Path, str]:
    return (
        folder / main,
        f"cannot check the includes: no {main} in {folder} - is it {pbx.id}'s "
        "configuration folder?",
    )


def _asterisk(config: AdminConfig, pbx: AsteriskPbx, folder: Path) -> list[tuple[Path, str]]:
    if not (folder / "extensions.conf").is_file():
        return [_not_a_config_folder(pbx, folder, "extensions.conf")]
    out: list[tuple[Path, str]] = []
    for generated, (main, hint) in _ASTERISK_HINTS.items():
        reach = _asterisk_reach(folder, main, pbx.install_dir)
        if not reach.includes(folder / generated):
            out.append((folder / main, f"{generated} is not included by {main}: {hint}"))
        elif generated == render_asterisk.EXTENSIONS and any(config.entry_points_on(pbx.id)):
            theirs = reach.files - {folder / generated}
            if not any("implus-entry" in line for f in theirs for line in _asterisk_code(_read(f))):
                out.append(
                    (
                        folder / main,
                        "no context sends callers to implus-entry: add `include => "
                        "implus-entry` to the context where customers' calls arrive (or "
                        "Goto(implus-entry,${EXTEN},1))",
                    )
                )
    return out


# --- FreeSWITCH ------------------------------------------------------------------------


def _freeswitch_reach(folder: Path, install_dir: str) -> _Reach:
    reach = _Reach()
    stack = [folder / "freeswitch.xml"]
    while stack:
        path = stack.pop()
        if path in reach.files or not path.is_file():
            continue
        reach.files.add(path)
        for n, line in enumerate(_read(path).splitlines(), 1):
            m = _FS_DIRECTIVE.search(line)
            if m is None:
                continue
            cmd = re.search(_FS_ATTR.format("cmd"), m.group(1), re.IGNORECASE)
            data = re.search(_FS_ATTR.format("data"), m.group(1), re.IGNORECASE)
            if not (cmd and data and cmd.group(1).lower() == "include"):
                continue
            rest = (line[: m.start()] + line[m.end() :]).strip()
            if rest:
                lost = "`, `".join(re.findall(r"<[^>]*>", rest) or [rest])
                reach.problems.append(
                    (
                        path,
                        n,
                        "this include does not stand on a line of its own: FreeSWITCH's "
                        "pre-processor replaces the whole line with the included files, so the "
                        f"rest of it (`{lost}`) is lost - put the include on a line of its own",
                    )
                )
            target = data.group(1).replace("$${conf_dir}", str(folder))
            pattern = _resolve(target, path.parent, folder, install_dir)
            reach.patterns.append(pattern)
            stack += [Path(p) for p in sorted(glob.glob(pattern))]
    return reach


def _freeswitch_hint(pbx: FreeswitchPbx, generated: str) -> tuple[str, str]:
    """(the file that should include `generated`, what to add there)."""
    parent, _, name = generated.rpartition("/")
    folder = parent.rpartition("/")[2]
    line = f'`<X-PRE-PROCESS cmd="include" data="{folder}/*.xml"/>` on a line of its own'
    if generated == render_freeswitch.DIALPLAN:
        return "freeswitch.xml", (
            '`<X-PRE-PROCESS cmd="include" data="dialplan/*.xml"/>` on a line of its own '
            'inside <section name="dialplan">'
        )
    if name == "implus_agents.xml":
        return f"{parent}.xml", f"{line} inside the <users> of {parent}.xml"
    if name == "implus_gateways.xml":
        return f"{parent}.xml", f"{line} inside the <gateways> of {parent}.xml"
    return f"{parent}.xml", f'{line} inside <context name="{folder}"> of {parent}.xml'


def _freeswitch(pbx: FreeswitchPbx, folder: Path) -> list[tuple[Path, int | None, str]]:
    if not (folder / "freeswitch.xml").is_file():
        path, message = _not_a_config_folder(pbx, folder, "freeswitch.xml")
        return [(path, None, message)]
    reach = _freeswitch_reach(folder, pbx.install_dir)
    out = list(reach.problems)
    for generated in render_freeswitch.paths(pbx):
        if reach.includes(folder / generated):
            continue
        parent, hint = _freeswitch_hint(pbx, generated)
        where = folder / parent if (folder / parent).is_file() else folder / "freeswitch.xml"
        out.append((where, None, f"{generated} is not included: add {hint}"))
    return out


def include_problems(config: AdminConfig, pbx: Pbx, index: int, folder: Path) -> list[Problem]:
    """Warnings (at `pbxs[index]`, located in the PBX's files) for generated files the
    configuration in `folder` does not include, or includes in a way that breaks it."""
    found: list[tuple[Path, int | None, str]]
    if isinstance(pbx, AsteriskPbx):
        found = [(path, None, message) for path, message in _asterisk(config, pbx, folder)]
    else:
        found = _freeswitch(pbx, folder)
    return [
        warning(("pbxs", index), message, line=line, file=str(path))
        for path, line, message in found
    ]
