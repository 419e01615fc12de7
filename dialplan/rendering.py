"""What a renderer produces, and choosing the PBX to render for.

A renderer turns an `AdminConfig` into `RenderedFile`s: include files, each starting
with the generated-file header, with a path relative to the PBX's configuration folder,
whether it holds secrets (mode 0600, masked in diffs) and what must be reloaded when it
changes. Rendering is pure and deterministic: the same config gives the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from admin_config.model import PBX_KINDS, AdminConfig, Pbx
from admin_config.secrets import Secrets
from dialplan.errors import RenderError

#: The marker that makes a file ours. A file without it is never overwritten or removed.
GENERATED_MARK = "implus generated file"
HEADER_TEXT = (
    f"{GENERATED_MARK} - do not edit: `implus dialplan apply` rewrites it from the admin YAML"
)

#: What a change to a file requires on the PBX.
Reload = Literal["dialplan", "pjsip", "manager", "http", "xml", "gateways"]


@dataclass(frozen=True)
class RenderedFile:
    """One generated file; `path` is relative to the PBX's configuration folder."""

    path: str
    content: str
    reload: Reload
    secret: bool = False

    @property
    def mode(self) -> int:
        return 0o600 if self.secret else 0o644


def is_generated(text: str) -> bool:
    """Whether file text starts with the implus generated-file header."""
    first = text.split("\n", 1)[0]
    return GENERATED_MARK in first


def select_pbx(config: AdminConfig, pbx: str) -> Pbx:
    """The PBX named by id, or by kind when exactly one PBX has that kind."""
    ids = {p.id: p for p in config.pbxs}
    if pbx in ids:
        return ids[pbx]
    if pbx in PBX_KINDS:
        of_kind = config.pbxs_of_kind(pbx)
        if len(of_kind) == 1:
            return of_kind[0]
        if not of_kind:
            raise RenderError(f"the config has no {pbx} PBX (PBXs: {', '.join(ids) or 'none'})")
        choices = ", ".join(p.id for p in of_kind)
        raise RenderError(f"the config has several {pbx} PBXs ({choices}): give --pbx <id>")
    raise RenderError(
        f"unknown PBX {pbx!r}: give an id ({', '.join(ids) or 'none'}) or a kind "
        f"({', '.join(PBX_KINDS)})"
    )


def render(config: AdminConfig, pbx: Pbx, secrets: Secrets | None = None) -> list[RenderedFile]:
    """Render every include file for `pbx`; raises MissingSecret naming unset variables."""
    from dialplan import guard, render_asterisk, render_freeswitch

    secrets = secrets or Secrets()
    if pbx.kind == "asterisk":
        files = render_asterisk.render(config, pbx, secrets)
    else:
        files = render_freeswitch.render(config, pbx, secrets)
    secrets.raise_missing()
    for f in files:
        guard.check(f.path, f.content, pbx.kind)
    return files
