"""Reloading a PBX after `apply`: AMI `Reload` actions (Asterisk), `reloadxml` (FreeSWITCH).

Both use the bridges' own connection layers, one connection per apply:
`ami_bridge.connection.AmiConnection` (asyncio, run here with `asyncio.run`) and
`esl_bridge.connection.EslConnection` (gevent). Both are imported only when a reload runs,
so `implus dialplan check/render` never load them.
"""

from __future__ import annotations

import asyncio
import os
import socket
from typing import Any

from dialplan.apply import Reloader, ReloadPlan
from dialplan.config import AsteriskPbx, FreeswitchPbx, Pbx
from dialplan.errors import MissingSecret, ReloadFailed
from dialplan.targets import AGENT_CONTEXT

TIMEOUT = 10.0


def reloader_for(pbx: Pbx) -> Reloader:
    """The reloader speaking `pbx`'s management protocol."""
    if isinstance(pbx, AsteriskPbx):
        return AmiReloader()
    return EslReloader()


def _secret(pbx: Pbx) -> str:
    value = os.environ.get(pbx.secret_env)
    if not value:
        what = "AMI secret" if pbx.kind == "asterisk" else "ESL password"
        raise MissingSecret([(pbx.secret_env, f"{what} of PBX {pbx.id}")])
    return value


def _reachable(host: str, port: int, what: str) -> None:
    """Fail fast, with a clear message, when nothing listens (the AMI client would retry)."""
    try:
        socket.create_connection((host, port), timeout=TIMEOUT).close()
    except OSError as e:
        raise ReloadFailed(f"cannot reach {what} at {host}:{port}: {e}") from e


class AmiReloader:
    """Asterisk: an AMI `Reload` per changed module, then a check that the generated
    dialplan is loaded. Logs in as the PBX's own user (the one manager_implus.conf defines)
    through `ami_bridge.connection.AmiConnection`."""

    def reload(self, pbx: Pbx, plan: ReloadPlan) -> list[str]:
        assert isinstance(pbx, AsteriskPbx)
        _reachable(pbx.host, pbx.management_port, "AMI")
        return asyncio.run(self._reload(pbx, plan, _secret(pbx)))

    async def _reload(self, pbx: AsteriskPbx, plan: ReloadPlan, secret: str) -> list[str]:
        from ami_bridge.connection import AmiConnection, AmiSettings
        from ami_bridge.errors import AmiActionFailed, AmiError, AmiLoginFailed

        settings = AmiSettings(
            host=pbx.host,
            port=pbx.management_port,
            username=pbx.username,
            secret=secret,
            action_timeout=TIMEOUT,
            connect_timeout=TIMEOUT,
            boot_timeout=TIMEOUT,
        )
        ami = AmiConnection(settings)
        done: list[str] = []
        try:
            await ami.start(timeout=2 * TIMEOUT)
            for module in plan.asterisk_modules:
                try:
                    await ami.send_action({"Action": "Reload", "Module": module})
                except AmiActionFailed as e:
                    raise ReloadFailed(
                        f"Asterisk refused to reload {module}: {e.message} (the files are "
                        f"written; fix it and run `implus dialplan apply --pbx {pbx.id} "
                        "--force-reload`)"
                    ) from e
                done.append(f"reloaded {module}")
            if "pbx_config" in plan.asterisk_modules:
                await self._check_dialplan(ami, pbx)
        except AmiLoginFailed as e:
            raise ReloadFailed(
                f"{e}. On the first apply, add `#include manager_implus.conf` at the end of "
                "manager.conf and run `manager reload` on the Asterisk CLI once; then "
                f"`implus dialplan apply --pbx {pbx.id} --force-reload`."
            ) from e
        except AmiError as e:
            raise ReloadFailed(f"Asterisk {pbx.id}: {e}") from e
        finally:
            await ami.close()
        return done

    @staticmethod
    async def _check_dialplan(ami: Any, pbx: AsteriskPbx) -> None:
        from ami_bridge.errors import AmiActionFailed

        try:
            items = await ami.list_action({"Action": "ShowDialPlan", "Context": AGENT_CONTEXT})
        except AmiActionFailed:
            items = []
        if not items:
            raise ReloadFailed(
                f"the dialplan reloaded but context {AGENT_CONTEXT} is missing on {pbx.id}: "
                "add `#include extensions_implus.conf` to extensions.conf"
            )


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
    from esl_bridge.connection import EslConnection
    from esl_bridge.errors import EslError

    con = EslConnection(
        pbx.host,
        pbx.management_port,
        _secret(pbx),
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
