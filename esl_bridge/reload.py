"""Reloading a FreeSWITCH after `implus dialplan apply`: `reloadxml`, gateway rescans.

Registered as the `freeswitch` reloader (entry-point group `implus.reloaders`, see
`admin_config.reloading`), so `dialplan` never imports this bridge. One ESL connection per
apply, through the bridge's own connection layer, bounded by timeouts.
"""

from __future__ import annotations

from admin_config.errors import ReloadFailed
from admin_config.model import FreeswitchPbx, Pbx
from admin_config.reloading import ReloadPlan, pbx_secret
from esl_bridge.connection import EslConnection
from esl_bridge.errors import EslError

TIMEOUT = 10.0


class EslReloader:
    """FreeSWITCH: `reloadxml`, and gateway `killgw`/`rescan` when gateways changed."""

    def reload(self, pbx: Pbx, plan: ReloadPlan) -> list[str]:
        assert isinstance(pbx, FreeswitchPbx)
        profile = plan.gateway_profile
        commands = [f"sofia profile {profile} killgw {g}" for g in plan.gateways_to_kill]
        if plan.reloadxml:
            commands.append("reloadxml")
        if plan.gateway_profile:
            commands.append(f"sofia profile {plan.gateway_profile} rescan")
        done = []
        for command, reply in _esl_api(pbx, commands):
            if reply.startswith("-ERR"):
                raise ReloadFailed(f"FreeSWITCH {pbx.id}: `{command}` failed: {reply.strip()}")
            done.append(f"{command}: {reply.strip().splitlines()[0] if reply.strip() else 'ok'}")
        return done


def _esl_api(pbx: FreeswitchPbx, commands: list[str]) -> list[tuple[str, str]]:
    """Run `api` commands over one ESL connection (esl_bridge's, bounded by timeouts)."""
    con = EslConnection(
        pbx.host,
        pbx.management_port,
        pbx_secret(pbx),
        connect_timeout=TIMEOUT,
        command_timeout=TIMEOUT,
    )
    out = []
    try:
        con.connect()
        for command in commands:
            reply = con.send(f"api {command}")
            out.append((command, reply.text()))
    except EslError as e:
        raise ReloadFailed(f"FreeSWITCH {pbx.id}: {e}") from e
    finally:
        con.close()
    return out
