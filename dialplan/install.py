"""Installing rendered files: compare with what is there, write only what changed.

Safety rules: a file that exists and does not start with the implus generated-file
header is never overwritten or removed (an empty file counts as ours - it holds nothing
of the admin's); writes are atomic (temporary file + rename in the same folder); files
holding secrets are created 0600. `.implus-generated` in the target folder lists the files
implus wrote, so a file no longer rendered (e.g. an inbound context removed from the
config) is removed on the next apply. It also records a reload still owed: files are
written before the PBX is asked to reload them, and when that fails (a first apply, before
the AMI user exists) or is skipped (`--no-reload`), the next apply must reload them even
though no file changes any more.
"""

from __future__ import annotations

import difflib
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from admin_config.secrets import mask
from dialplan.errors import UnsafeOverwrite
from dialplan.rendering import GENERATED_MARK, RenderedFile, is_generated

MANIFEST = ".implus-generated"
OWED = "# reload owed: "
"""Manifest line prefix of the reload still owed (JSON; a comment to older readers)."""
Status = Literal["new", "changed", "unchanged", "removed"]


@dataclass(frozen=True)
class FileChange:
    """One file's fate in an install: its status, the old text and a masked diff."""

    path: str
    status: Status
    file: RenderedFile | None
    """None for a removed file."""
    old: str | None

    @property
    def diff(self) -> list[str]:
        """Unified diff with secret values masked (safe to print or log)."""
        old = mask(self.old or "").splitlines(keepends=True)
        new = mask(self.file.content if self.file else "").splitlines(keepends=True)
        a = f"a/{self.path}" if self.old is not None else "/dev/null"
        b = f"b/{self.path}" if self.file is not None else "/dev/null"
        return list(difflib.unified_diff(old, new, a, b))

    @property
    def secrets_only(self) -> bool:
        """Changed, but only in secret values (the masked diff is empty)."""
        return self.status == "changed" and not self.diff

    def stat(self) -> str:
        """``+3 -1`` style count of changed lines."""
        lines = self.diff[2:]
        plus = sum(1 for line in lines if line.startswith("+"))
        minus = sum(1 for line in lines if line.startswith("-"))
        return f"+{plus} -{minus}"


@dataclass(frozen=True)
class InstallPlan:
    """What installing rendered files into `dest` would change."""

    dest: Path
    changes: tuple[FileChange, ...]

    @property
    def changed(self) -> list[FileChange]:
        return [c for c in self.changes if c.status != "unchanged"]

    def summary(self) -> list[str]:
        """One line per file: ``changed  extensions_implus.conf (+3 -1)``."""
        out = []
        for c in self.changes:
            detail = ""
            if c.status in ("new", "changed", "removed"):
                detail = " (secret values changed)" if c.secrets_only else f" ({c.stat()})"
            out.append(f"{c.status:<9} {c.path}{detail}")
        return out


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def _ours(text: str) -> bool:
    return not text.strip() or is_generated(text)


def _manifest(dest: Path) -> list[str]:
    text = _read(dest / MANIFEST) or ""
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def read_owed(dest: Path) -> dict[str, Any] | None:
    """The reload an earlier apply into `dest` still owes (as `record_owed` wrote it)."""
    for line in (_read(dest / MANIFEST) or "").splitlines():
        if line.startswith(OWED):
            try:
                owed = json.loads(line[len(OWED) :])
            except ValueError:
                return None
            return owed if isinstance(owed, dict) else None
    return None


def _write_manifest(dest: Path, paths: Sequence[str], owed: dict[str, Any] | None) -> None:
    text = f"# {GENERATED_MARK}s in this folder (implus dialplan apply)\n"
    if owed:
        text += OWED + json.dumps(owed, sort_keys=True) + "\n"
    _atomic_write(dest / MANIFEST, text + "".join(f"{p}\n" for p in sorted(paths)), 0o644)


def record_owed(dest: Path, owed: dict[str, Any] | None) -> None:
    """Record the reload `dest`'s files still need (None: nothing owed any more)."""
    if read_owed(dest) != owed:
        _write_manifest(dest, _manifest(dest), owed)


def plan_install(files: Sequence[RenderedFile], dest: Path) -> InstallPlan:
    """Compare `files` with `dest`; raise UnsafeOverwrite naming every file not ours."""
    changes: list[FileChange] = []
    foreign: list[str] = []
    for f in files:
        old = _read(dest / f.path)
        if old is not None and not _ours(old):
            foreign.append(f.path)
            continue
        if old is None:
            status: Status = "new"
        elif old == f.content:
            status = "unchanged"
        else:
            status = "changed"
        changes.append(FileChange(f.path, status, f, old))
    rendered = {f.path for f in files}
    for path in _manifest(dest):
        if path in rendered or ".." in Path(path).parts or Path(path).is_absolute():
            continue
        old = _read(dest / path)
        if old is not None and is_generated(old):
            changes.append(FileChange(path, "removed", None, old))
    if foreign:
        raise UnsafeOverwrite(
            f"refusing to overwrite {', '.join(foreign)} in {dest}: "
            f"{'it does' if len(foreign) == 1 else 'they do'} not start with the "
            f"'{GENERATED_MARK}' header, so they may be your own files. Move them away "
            "(or render into another folder with --out)."
        )
    return InstallPlan(dest, tuple(changes))


def write_plan(plan: InstallPlan) -> None:
    """Write new/changed files, remove removed ones, update the manifest (keeping the
    reload it records as owed: `record_owed` changes that)."""
    for c in plan.changes:
        target = plan.dest / c.path
        if c.status in ("new", "changed") and c.file is not None:
            _atomic_write(target, c.file.content, c.file.mode)
        elif c.status == "removed":
            target.unlink(missing_ok=True)
    kept = [c.path for c in plan.changes if c.status != "removed"]
    _write_manifest(plan.dest, kept, read_owed(plan.dest))


def _atomic_write(target: Path, content: str, mode: int) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    previous = target.stat() if target.exists() else None
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(content)
        if previous is not None:
            # Keep the admin's ownership (e.g. root:asterisk 0640) but never widen access
            # to a file with secrets beyond what it had.
            mode = previous.st_mode & 0o777 if mode == 0o644 else previous.st_mode & 0o660
            if os.geteuid() == 0:
                os.chown(tmp, previous.st_uid, previous.st_gid)
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
