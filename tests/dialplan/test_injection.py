"""Hostile text in ANY admin-supplied field is inert in every generated PBX file.

Table-driven: each payload (FreeSWITCH pre-processor tags in several spellings, `$${...}`
and `${...}` expansions, `;`, newlines, `<&"`, `#include`/`#exec` lines, `[section]` and
`=>` for Asterisk) goes into each field that reaches a rendered file. Either validation
refuses it with an error at that field's YAML path, or a secret is refused naming its
variable, or the files render and `pbx_inert` (what the PBXs would act on, written from
their sources) finds nothing: no pre-processor line, no expansion we did not write,
well-formed XML of the same shape, Asterisk lines of the same kinds (no injected
directive, section, key or priority), no unescaped `;`.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from dialplan_helpers import SECRETS, base_config
from pbx_inert import (
    asterisk_problems,
    asterisk_skeleton,
    expansions,
    freeswitch_problems,
    xml_shape,
)

from admin_config.errors import BadSecret
from admin_config.problems import Loc, Problem, format_path
from admin_config.secrets import Secrets
from admin_config.validate import validate_text
from dialplan.rendering import render, select_pbx

PAYLOADS = [
    '<X-PRE-PROCESS cmd="exec" data="touch /tmp/pwned"/>',
    '<x-pre-process cmd="set" data="x=yes"/>',
    '<X-Pre-Process  cmd = "exec"  data = "touch /tmp/pwned" />',
    '<X-PRE-\nPROCESS cmd="exec" data="touch /tmp/pwned"/>',
    '<X-PRE-\tPROCESS cmd="exec" data="touch /tmp/pwned"/>',
    '< X-PRE-PROCESS cmd="exec" data="touch /tmp/pwned"/>',
    "X-PRE-PROCESS",
    "a-x-Pre-Process-b",
    "x-pre-process.example.com",
    '<!--#exec "touch /tmp/pwned"-->',
    '--><!--#exec "touch /tmp/pwned"--><!--',
    "<include></include><?xml version='1.0'?>",
    "$${base_dir}",
    "a$${base_dir}b",
    "${system(touch /tmp/pwned)}",
    "${IMPLUS_AGENT_DIAL}",
    "$[1+1]",
    "a;b",
    "x\n[evil]\ntype=endpoint",
    "x\nexten => 666,1,System(touch /tmp/pwned)",
    "1,System(touch /tmp/pwned)\n same => n,Hangup()",
    "[section]",
    "=> 1,Hangup()",
    "#include /etc/passwd",
    "\n#exec touch /tmp/pwned",
    "#exec touch /tmp/pwned",
    "<&\"'>",
    "\\;x\\",
    "sip:x-pre-process@127.0.0.1",
    "sip:1001@127.0.0.1:5081;transport=udp",
]

VM = {"type": "voicemail", "mailbox": "1000"}
EXT = {"type": "extension", "extension": "2000"}
GW_HOST: Loc = ("trunks", 1, "host")

#: Every field whose value reaches a rendered file: YAML path, a plain value for the
#: comparison render (None: the base config's own), and changes made first so the field
#: is used (e.g. a FreeSWITCH trunk renders a gateway only without `gateway:`).
FIELDS: list[tuple[Loc, str | None, dict[Loc, Any]]] = [
    (("services", 0, "id"), None, {}),
    (("services", 0, "label"), None, {}),
    (("pbxs", 0, "id"), None, {}),
    (("pbxs", 0, "username"), "implus", {}),
    (("pbxs", 0, "transport"), "transport-udp", {}),
    (("pbxs", 0, "phone_context"), "default", {}),
    (("pbxs", 0, "ami_permit", 0), "127.0.0.1/255.255.255.255", {}),
    (("pbxs", 0, "codecs", 0), "ulaw", {}),
    (("pbxs", 0, "sip_host"), None, {}),
    (("pbxs", 1, "id"), None, {}),
    (("pbxs", 1, "domain"), "example.com", {}),
    (("pbxs", 1, "directory"), "default", {}),
    (("pbxs", 1, "inbound_contexts", 0), "public", {}),
    (("pbxs", 1, "gateway_profile"), "external", {}),
    (("pbxs", 1, "agent_profile"), "internal", {("agents", 1, "contact"): "sip:2001@h"}),
    (("pbxs", 1, "phone_context"), "default", {}),
    (("pbxs", 1, "sip_host"), None, {}),
    (("entry_points", 0, "id"), None, {}),
    (("entry_points", 0, "label"), None, {}),
    (("entry_points", 0, "extension"), None, {}),
    (("entry_points", 0, "language"), None, {}),
    (("entry_points", 0, "music_class"), "default", {}),
    (("entry_points", 0, "overflow", "mailbox"), None, {}),
    (("entry_points", 0, "overflow", "context"), "default", {}),
    (("entry_points", 1, "id"), None, {}),
    (("entry_points", 1, "label"), None, {}),
    (("entry_points", 1, "extension"), None, {}),
    (("entry_points", 1, "music_class"), "local_stream://moh", {}),
    (("entry_points", 1, "overflow", "mailbox"), None, {("entry_points", 1, "overflow"): VM}),
    (("entry_points", 1, "overflow", "extension"), None, {("entry_points", 1, "overflow"): EXT}),
    (("agents", 0, "id"), None, {}),
    (("agents", 0, "name"), None, {}),
    (("agents", 0, "endpoint"), None, {}),
    (("agents", 0, "contact"), "sip:1001@127.0.0.1:5081", {}),
    (("agents", 1, "id"), None, {}),
    (("agents", 1, "name"), None, {}),
    (("agents", 1, "endpoint"), None, {}),
    (("agents", 1, "contact"), "sip:2001@127.0.0.1:5082", {}),
    (("trunks", 0, "id"), None, {}),
    (("trunks", 0, "host"), None, {}),
    (("trunks", 0, "username"), None, {}),
    (("trunks", 0, "dial_prefix"), None, {}),
    (("trunks", 1, "gateway"), None, {}),
    (("trunks", 1, "host"), "192.0.2.20", {("trunks", 1, "gateway"): None}),
    (("trunks", 1, "username"), "acme", {("trunks", 1, "gateway"): None, GW_HOST: "h"}),
    (("trunks", 2, "id"), None, {}),
    (("services", 0, "recording", "announcement"), "custom/call-recorded", {}),
    (("services", 1, "recording", "announcement"), "ivr/x.wav", {}),
    (("pbxs", 0, "recordings_dir"), "/var/spool/asterisk/monitor/implus", {}),
    (("supervisors", 0, "id"), None, {}),
    (("supervisors", 0, "name"), None, {}),
    (("supervisors", 0, "endpoint"), None, {}),
    (("supervisors", 1, "endpoint"), None, {}),
    (("supervisors", 1, "contact"), "sip:2900@127.0.0.1:5091", {}),
]

#: Secrets are read from the environment when rendering: bad ones are refused then.
SECRET_VARS = sorted(SECRETS)

#: Fields that may name a FreeSWITCH global variable on purpose (`$${hold_music}`,
#: `$${domain}`); only a whole `$${name}` is accepted there (docs/admin-config.md).
GLOBAL_VARIABLE_FIELDS = {("pbxs", 1, "domain"), ("entry_points", 1, "music_class")}


def _rename(node: Any, old: str, new: str) -> Any:
    """`node` with every string value equal to `old` replaced (an id and its references)."""
    if isinstance(node, dict):
        return {k: _rename(v, old, new) for k, v in node.items()}
    if isinstance(node, list):
        return [_rename(v, old, new) for v in node]
    return new if node == old else node


def _get(data: dict[str, Any], loc: Loc) -> Any:
    node: Any = data
    for part in loc:
        node = node[part]
    return node


def _set(data: dict[str, Any], loc: Loc, value: Any) -> None:
    node: Any = data
    for part, nxt in itertools.pairwise(loc):
        if isinstance(node, dict) and part not in node:
            node[part] = [None] if isinstance(nxt, int) else {}
        node = node[part]
    if value is None:
        node.pop(loc[-1], None)
    else:
        node[loc[-1]] = value


Files = list[tuple[str, str]]


def _render(
    data: dict[str, Any], folder: Path, env: dict[str, str], name: str = "admin.yaml"
) -> tuple[list[Problem], Files]:
    (folder / "strategy.yaml").write_text("rules: []\n", encoding="utf-8")
    path = folder / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    result = validate_text(path.read_text(encoding="utf-8"), source=path)
    if result.errors:
        return result.errors, []
    config = result.config
    assert config is not None
    return [], [
        (f"{pbx}/{f.path}", f.content)
        for pbx in ("ast1", "fs1")
        for f in render(config, select_pbx(config, pbx), Secrets(env))
    ]


def _config(loc: Loc | None, value: str | None, prepare: dict[Loc, Any]) -> dict[str, Any]:
    """The base config with `prepare` applied and `value` in field `loc` (None: as is)."""
    data = base_config()
    for where, v in prepare.items():
        _set(data, where, v)
    if loc is None or value is None:
        return data
    if loc[-1] == "id":  # the references follow the id
        return _rename(data, _get(data, loc), value)
    _set(data, loc, value)
    return data


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Files:
    errors, files = _render(base_config(), tmp_path_factory.mktemp("base"), SECRETS)
    assert not errors
    return files


def _check_files(files: Files, baseline: Files, extra_allowed: set[str]) -> list[str]:
    """What the PBXs would act on in `files`, compared with the same files of the plain
    config (same order: rendering is deterministic; paths may differ by an id)."""
    problems = []
    assert len(files) == len(baseline)
    for (path, content), (_, base) in zip(files, baseline, strict=True):
        allowed = set(expansions(base)) | extra_allowed
        if path.endswith(".xml"):
            found = freeswitch_problems(content, allowed)
            if not found and xml_shape(content) != xml_shape(base):
                found = ["XML elements differ from the plain config's"]
        else:
            found = asterisk_problems(content, allowed)
            if asterisk_skeleton(content) != asterisk_skeleton(base):
                found.append("interpreted lines differ in kind from the plain config's")
        problems += [f"{path}: {p}" for p in found]
    return problems


@pytest.mark.parametrize(
    ("loc", "plain", "prepare"), FIELDS, ids=[format_path(f[0]) for f in FIELDS]
)
def test_hostile_value_in_field_is_refused_or_inert(
    loc: Loc, plain: str | None, prepare: dict[Loc, Any], tmp_path: Path
) -> None:
    errors, baseline = _render(_config(loc, plain, prepare), tmp_path, SECRETS)
    assert not errors, errors
    failures = []
    for payload in PAYLOADS:
        errors, files = _render(_config(loc, payload, prepare), tmp_path, SECRETS)
        if errors:
            path = format_path(loc)
            if not any(p.path == path or p.path.startswith(path + ".") for p in errors):
                failures.append(f"{payload!r}: refused, but not at {path}: {errors}")
            continue
        by_design = set()
        if loc in GLOBAL_VARIABLE_FIELDS and re.fullmatch(r"\$\$\{[a-z_]+\}", payload):
            by_design.add(payload)
        failures += [f"{payload!r}: {p}" for p in _check_files(files, baseline, by_design)]
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("variable", SECRET_VARS)
def test_hostile_secret_is_refused_or_inert(variable: str, baseline: Files, tmp_path: Path) -> None:
    failures = []
    for payload in PAYLOADS:
        refused = ""
        try:
            errors, files = _render(base_config(), tmp_path, {**SECRETS, variable: payload})
        except BadSecret as e:
            refused = str(e)
        if refused:
            assert variable in refused
            assert payload == "X-PRE-PROCESS" or payload not in refused  # never shown
            continue
        assert not errors
        failures += [f"{payload!r}: {p}" for p in _check_files(files, baseline, set())]
    assert not failures, "\n".join(failures)


def test_hostile_config_file_name_is_inert(baseline: Files, tmp_path: Path) -> None:
    """The admin YAML's file name is written into every header comment."""
    failures = []
    for payload in PAYLOADS:
        name = payload.replace("/", "_").replace("\0", "") + ".yaml"
        errors, files = _render(base_config(), tmp_path, SECRETS, name=name)
        assert not errors
        failures += [f"{payload!r}: {p}" for p in _check_files(files, baseline, set())]
    assert not failures, "\n".join(failures)


def test_the_oracle_sees_what_freeswitch_would_run() -> None:
    """pbx_inert flags the injections this test guards against (so it can fail)."""
    allowed = {"${caller_id_number}"}
    assert freeswitch_problems("<include>\n</include>\n", allowed) == []
    comment = '<include>\n<!-- <x-pre-process cmd="exec" data="id"/> -->\n</include>'
    assert freeswitch_problems(comment, allowed)
    assert freeswitch_problems('<include>\n<a b="X-Pre-Process"/>\n</include>', allowed)
    assert freeswitch_problems('<include>\n<!--#exec "id"-->\n</include>', allowed)
    assert freeswitch_problems('<include>\n<a b="${system(id)}"/>\n</include>', allowed)
    assert freeswitch_problems("<include>\n<!-- $${base_dir} -->\n</include>", allowed)
    assert asterisk_problems("[a]\n#exec touch /x\n", set())
    assert asterisk_problems("[a]\ncontact=sip:a;transport=tcp\n", set())
    assert not asterisk_problems("[a]\ncontact=sip:a\\;transport=tcp\n", set())
    assert asterisk_problems("exten => 1,1,NoOp(${SHELL(id)})\n", {"${EXTEN}"})
    assert asterisk_skeleton("[a]\nx=1\n; [b]\n") != asterisk_skeleton("[a]\nx=1\n[b]\n")
