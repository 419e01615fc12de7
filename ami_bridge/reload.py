"""Reloading an Asterisk after `implus dialplan apply`: AMI `Reload` actions.

Registered as the `asterisk` reloader (entry-point group `implus.reloaders`, see
`admin_config.reloading`), so `dialplan` never imports this bridge. One AMI connection per
apply, through the bridge's own connection layer (asyncio, run here with `asyncio.run`).
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from admin_config.errors import ReloadFailed
from admin_config.model import AsteriskPbx, Pbx
from admin_config.reloading import ReloadPlan, pbx_secret
from admin_config.targets import CONNECT_CONTEXT

from .connection import AmiConnection, AmiSettings
from .errors import AmiActionFailed, AmiError, AmiLoginFailed

TIMEOUT = 10.0


def _reachable(host: str, port: int) -> None:
    """Fail fast, with a clear message, when nothing listens (the AMI client would retry)."""
    try:
        socket.create_connection((host, port), timeout=TIMEOUT).close()
    except OSError as e:
        raise ReloadFailed(f"cannot reach AMI at {host}:{port}: {e}") from e


class AmiReloader:
    """Asterisk: an AMI `Reload` per changed module, then a check that the generated
    dialplan is loaded. Logs in as the PBX's own user (the one manager_implus.conf defines)
    through `ami_bridge.connection.AmiConnection`."""

    def reload(self, pbx: Pbx, plan: ReloadPlan) -> list[str]:
        assert isinstance(pbx, AsteriskPbx)
        _reachable(pbx.host, pbx.management_port)
        return asyncio.run(self._reload(pbx, plan, pbx_secret(pbx)))

    async def _reload(self, pbx: AsteriskPbx, plan: ReloadPlan, secret: str) -> list[str]:
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
                        f"written; fix it and run `implus dialplan apply --pbx {pbx.id}` "
                        "again: it reloads what this apply could not)"
                    ) from e
                done.append(f"reloaded {module}")
            if "pbx_config" in plan.asterisk_modules:
                await self._check_dialplan(ami, pbx)
        except AmiLoginFailed as e:
            raise ReloadFailed(
                f"{e}. On the first apply, add `#include manager_implus.conf` at the end of "
                "manager.conf and run `manager reload` on the Asterisk CLI once; then "
                f"`implus dialplan apply --pbx {pbx.id}` again (the files are written; it "
                "reloads what this apply could not)."
            ) from e
        except AmiError as e:
            raise ReloadFailed(f"Asterisk {pbx.id}: {e}") from e
        finally:
            await ami.close()
        return done

    @staticmethod
    async def _check_dialplan(ami: Any, pbx: AsteriskPbx) -> None:
        try:
            items = await ami.list_action({"Action": "ShowDialPlan", "Context": CONNECT_CONTEXT})
        except AmiActionFailed:
            items = []
        if not items:
            raise ReloadFailed(
                f"the dialplan reloaded but context {CONNECT_CONTEXT} is missing on {pbx.id}: "
                "add `#include extensions_implus.conf` to extensions.conf"
            )
