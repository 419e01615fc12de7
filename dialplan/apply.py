"""`implus dialplan apply`: render, diff, write what changed, reload only that.

The reload goes over the PBX's management link through a `Reloader`;
`admin_config.reloading.reloader_for(pbx)` finds the one the PBX's bridge registers (the
AMI one for Asterisk, the ESL one for FreeSWITCH). Tests can pass their own
reloader only for the file logic; the real ones are tested against the sandbox Asterisk
and the ESL fixture.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from admin_config.model import AdminConfig, FreeswitchPbx, Pbx
from admin_config.reloading import Reloader, ReloadPlan
from admin_config.secrets import Secrets
from dialplan.install import (
    FileChange,
    InstallPlan,
    plan_install,
    read_owed,
    record_owed,
    write_plan,
)
from dialplan.rendering import render

_ASTERISK_MODULES = {
    "dialplan": "pbx_config",
    "pjsip": "res_pjsip.so",
    "manager": "manager",
    "http": "http",
}


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
    order = ("http", "dialplan", "pjsip", "manager")
    return ReloadPlan(asterisk_modules=tuple(_ASTERISK_MODULES[k] for k in order if k in kinds))


def _kind_of(path: str) -> str:
    for kind in ("pjsip", "manager", "http"):
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
    """Everything this apply reloads: what its changes need, and `owed`."""
    owed: ReloadPlan = field(default_factory=ReloadPlan)
    """The reload an earlier apply wrote files for but could not (or was told not to) do."""
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
    (``--no-reload``) or there is nothing to reload. What the written files need is
    recorded as owed in the folder's manifest BEFORE the reload and cleared after it
    succeeded, so a reload that failed or was skipped happens on the next apply even when
    no file changes then. `force_reload` reloads everything even when nothing changed
    (files edited by hand).
    """
    files = render(config, pbx, secrets)
    target = dest or Path(pbx.install_dir)
    plan = plan_install(files, target)
    owed = ReloadPlan.from_dict(read_owed(target))
    needed = reload_plan(pbx, plan.changes, everything=force_reload)
    result = ApplyResult(plan, needed.merged(owed), owed)
    if dry_run:
        return result
    if plan.changed:
        write_plan(plan)
        result.written = True
    if result.reload.empty:
        return result
    record_owed(target, result.reload.as_dict())
    if reloader is not None:
        result.reloaded = reloader.reload(pbx, result.reload)
        record_owed(target, None)
    return result
