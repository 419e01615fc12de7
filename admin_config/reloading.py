"""The reload contract: what `implus dialplan apply` asks a PBX to reload, and who does it.

`dialplan.apply` derives a `ReloadPlan` from the files it changed; the bridge package of
each PBX kind carries it out over its own management link (`ami_bridge.reload`,
`esl_bridge.reload`) and registers its `Reloader` under the entry-point group
`implus.reloaders` (setup.py), so neither this package nor `dialplan` imports a bridge.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from importlib.metadata import entry_points
from typing import Any, Protocol

from admin_config.errors import MissingSecret, ReloadFailed
from admin_config.model import Pbx

RELOADERS_GROUP = "implus.reloaders"

#: Asterisk modules in the order a reload goes: dialplan, endpoints, then the AMI user.
MODULE_ORDER = ("pbx_config", "res_pjsip.so", "manager")


def _module_rank(module: str) -> tuple[int, str]:
    known = module in MODULE_ORDER
    return (MODULE_ORDER.index(module) if known else len(MODULE_ORDER), module)


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

    def merged(self, other: ReloadPlan) -> ReloadPlan:
        """Everything either plan reloads (an owed reload joined with new changes)."""
        modules = set(self.asterisk_modules) | set(other.asterisk_modules)
        return ReloadPlan(
            asterisk_modules=tuple(sorted(modules, key=_module_rank)),
            reloadxml=self.reloadxml or other.reloadxml,
            gateway_profile=self.gateway_profile or other.gateway_profile,
            gateways_to_kill=tuple(
                sorted(set(self.gateways_to_kill) | set(other.gateways_to_kill))
            ),
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> ReloadPlan:
        """The plan `as_dict` gave; an empty plan for anything unreadable."""
        if not isinstance(data, dict):
            return cls()
        try:
            return cls(
                asterisk_modules=tuple(str(m) for m in data.get("asterisk_modules", ())),
                reloadxml=bool(data.get("reloadxml", False)),
                gateway_profile=str(data["gateway_profile"])
                if data.get("gateway_profile")
                else None,
                gateways_to_kill=tuple(str(g) for g in data.get("gateways_to_kill", ())),
            )
        except TypeError:
            return cls()

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


def reloader_for(pbx: Pbx) -> Reloader:
    """The reloader registered for `pbx`'s kind (`asterisk` or `freeswitch`)."""
    found = [ep for ep in entry_points(group=RELOADERS_GROUP) if ep.name == pbx.kind]
    if not found:
        raise ReloadFailed(
            f"no reloader is installed for {pbx.kind} PBXs (entry point group "
            f"{RELOADERS_GROUP}): reinstall implus (`pip install -e .`)"
        )
    reloader: Reloader = found[0].load()()
    return reloader


def pbx_secret(pbx: Pbx) -> str:
    """The AMI secret / ESL password of `pbx`, from the environment variable the config names."""
    value = os.environ.get(pbx.secret_env)
    if not value:
        what = "AMI secret" if pbx.kind == "asterisk" else "ESL password"
        raise MissingSecret([(pbx.secret_env, f"{what} of PBX {pbx.id}")])
    return value
