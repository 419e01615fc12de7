"""`implus dialplan apply`: render, diff, write what changed, reload only that.

The reload goes over the PBX's management link through a `Reloader`; `reloader_for(pbx)`
picks the AMI one (Asterisk) or the ESL one (FreeSWITCH). Tests can pass their own
reloader only for the file logic; the real ones are tested against the sandbox Asterisk
and the ESL fixture.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from dialplan.config import AdminConfig, FreeswitchPbx, Pbx
from dialplan.install import FileChange, InstallPlan, plan_install, write_plan
from dialplan.rendering import render
from dialplan.secrets import Secrets


@dataclass(frozen=True)
class ReloadPlan:
    """What to reload after an install, derived from which files changed."""

    asterisk_modules: tuple[str, ...] = ()
    """AMI `Reload` modules: pbx_config, res_pjsip.so, manager."""
    reloadxml: bool = False
    gateway_profile: str | None = None
    """FreeSWITCH profile to `rescan` (gateways changed)."""
    gateways_to_kill: tuple[str, ...] = ()
    """Gateways changed or removed: `killgw` before the rescan so they are re-read."""

    @property
    def empty(self) -> bool:
        return not (self.asterisk_modules or self.reloadxml)

    def describe(self) -> list[str]:
        out = [f"reload {m}" for m in self.asterisk_modules]
        out += [f"sofia profile {self.gateway_profile} killgw {g}" for g in self.gateways_to_kill]
        if self.reloadxml:
            out.append("reloadxml")
        if self.gateway_profile:
            out.append(f"sofia profile {self.gateway_profile} rescan")
        return out


class Reloader(Protocol):
    """Carries out a ReloadPlan over the PBX's management link; returns what it did."""

    def reload(self, pbx: Pbx, plan: ReloadPlan) -> list[str]: ...


_ASTERISK_MODULES = {"dialplan": "pbx_config", "pjsip": "res_pjsip.so", "manager": "manager"}


def reload_plan(pbx: Pbx, changes: Sequence[FileChange], everything: bool = False) -> ReloadPlan:
    """Reload only what the changed files need (`everything`: as if all had changed)."""
    changed = [c for c in changes if everything or c.status != "unchanged"]
    if not changed:
        return ReloadPlan()
    if isinstance(pbx, FreeswitchPbx):
        gateway_files = [c for c in changed if c.path.endswith("implus_gateways.xml")]
        kill: set[str] = set()
        for c in gateway_files:
            kill |= _changed_gateways(c.old, c.file.content if c.file else None)
        return ReloadPlan(
            reloadxml=True,
            gateway_profile=pbx.gateway_profile if gateway_files else None,
            gateways_to_kill=tuple(sorted(kill)),
        )
    kinds = {c.file.reload if c.file else _kind_of(c.path) for c in changed}
    order = ("dialplan", "pjsip", "manager")
    return ReloadPlan(asterisk_modules=tuple(_ASTERISK_MODULES[k] for k in order if k in kinds))


def _kind_of(path: str) -> str:
    for kind in ("pjsip", "manager"):
        if path.startswith(kind):
            return kind
    return "dialplan"


def _gateways(text: str | None) -> dict[str, str]:
    """Gateway name -> its XML, from a gateways include file."""
    if not text:
        return {}
    try:
        root = ET.fromstring(text)  # noqa: S314 - a file implus generated, not untrusted input
    except ET.ParseError:
        return {}
    return {g.get("name", ""): ET.tostring(g, encoding="unicode") for g in root.iter("gateway")}


def _changed_gateways(old: str | None, new: str | None) -> set[str]:
    before, after = _gateways(old), _gateways(new)
    return {name for name, xml in before.items() if after.get(name) != xml}


@dataclass
class ApplyResult:
    """What apply did (or, with dry_run, would do)."""

    plan: InstallPlan
    reload: ReloadPlan
    written: bool = False
    reloaded: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.plan.changed)


def apply(
    config: AdminConfig,
    pbx: Pbx,
    reloader: Reloader | None,
    dest: Path | None = None,
    secrets: Secrets | None = None,
    dry_run: bool = False,
    force_reload: bool = False,
) -> ApplyResult:
    """Render for `pbx`, install into `dest` (default: the PBX's config_dir), reload.

    Nothing is written when nothing changed; nothing is reloaded when `reloader` is None
    (``--no-reload``) or the plan is empty. `force_reload` reloads everything even when
    nothing changed (after a reload that failed, or files edited by hand).
    """
    files = render(config, pbx, secrets)
    target = dest or Path(pbx.install_dir)
    plan = plan_install(files, target)
    result = ApplyResult(plan, reload_plan(pbx, plan.changes, everything=force_reload))
    if dry_run:
        return result
    if plan.changed:
        write_plan(plan)
        result.written = True
    if reloader is not None and not result.reload.empty:
        result.reloaded = reloader.reload(pbx, result.reload)
    return result
