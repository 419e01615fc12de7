"""The sandbox's files inside its chroot: its own base configs and the `*_implus.conf`
include files `implus dialplan apply` (or a test) writes, each with the generated-file
header so a later apply may rewrite it."""

from __future__ import annotations

import socket
from pathlib import Path

from dialplan.install import MANIFEST
from dialplan.rendering import GENERATED_MARK, is_generated

from . import configs
from .errors import SandboxError


class SandboxFiles:
    """Mixin of `AsteriskSandbox`: where its files are is the sandbox's (`etc`, `root`,
    `chroot_path`)."""

    root: Path

    @property
    def etc(self) -> Path:
        raise NotImplementedError

    def chroot_path(self, inside: str) -> Path:
        raise NotImplementedError

    def write_base_configs(self) -> None:
        """(Re)write the sandbox's own configs, the hold tone and the chroot's /etc/hosts."""
        self.etc.mkdir(parents=True, exist_ok=True)
        for name, text in configs.BASE_CONFIGS.items():
            (self.etc / name).write_text(text, encoding="utf-8")
        for name in configs.STOCK_FILES_TO_REMOVE:
            (self.etc / name).unlink(missing_ok=True)
        moh = self.chroot_path(configs.MOH_DIR)
        moh.mkdir(parents=True, exist_ok=True)
        tone = moh / "implus-tone.sln"
        if not tone.exists():
            tone.write_bytes(configs.hold_tone_sln())
        (self.root / "run/asterisk").mkdir(parents=True, exist_ok=True)
        (self.root / "var/lib/asterisk/keys").mkdir(parents=True, exist_ok=True)
        (self.root / "etc/hosts").write_text(
            configs.hosts_file(socket.gethostname()), encoding="utf-8"
        )

    def write_include(self, name: str, text: str) -> Path:
        """Write one of the `*_implus.conf` include files; call `reload()` after."""
        if name not in configs.INCLUDE_FILES:
            raise SandboxError(
                f"{name!r} is not an include file of the sandbox; use one of "
                f"{', '.join(configs.INCLUDE_FILES)}"
            )
        path = self.etc / name
        path.write_text(_with_header(text), encoding="utf-8")
        return path

    def adopt_includes(self) -> list[str]:
        """Give the generated-file header to include files written without it (by an
        older implus), so `implus dialplan apply` may rewrite them: every file in the
        sandbox's /etc/asterisk is the sandbox's own. Returns the names it changed."""
        changed = []
        for name in configs.INCLUDE_FILES:
            path = self.etc / name
            text = path.read_text(encoding="utf-8") if path.exists() else ""
            if _with_header(text) != text:
                path.write_text(_with_header(text), encoding="utf-8")
                changed.append(name)
        return changed

    def reset_includes(self) -> None:
        """Empty every include file and forget what `implus dialplan apply` installed (a
        test session starts from the base configs, whatever an earlier session applied)."""
        for name in configs.INCLUDE_FILES:
            (self.etc / name).write_text("", encoding="utf-8")
        (self.etc / MANIFEST).unlink(missing_ok=True)


INCLUDE_HEADER = (
    f"; {GENERATED_MARK} - written by the implus Asterisk sandbox (devstack); "
    "`implus dialplan apply` and `implus up` rewrite it\n"
)


def _with_header(text: str) -> str:
    """Include text as the sandbox writes it: with the generated-file header, so a later
    `implus dialplan apply` (as `implus up` runs every time) may overwrite it. An empty
    file stays empty (it holds nothing and counts as generated already)."""
    if not text.strip() or is_generated(text):
        return text
    return INCLUDE_HEADER + text
