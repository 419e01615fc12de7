"""Reloading a PBX after `apply`: AMI `Reload` actions (Asterisk), `reloadxml` (FreeSWITCH).

FreeSWITCH goes through `esl_bridge.connection.EslConnection` (gevent, one connection per
apply). Asterisk uses a one-shot blocking AMI session with a timeout on every read, until
`ami_bridge.connection` lands on main; the `Reloader` interface stays.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager

from dialplan.apply import Reloader, ReloadPlan
from dialplan.config import AsteriskPbx, FreeswitchPbx, Pbx
from dialplan.errors import MissingSecret, ReloadFailed
from dialplan.targets import AGENT_CONTEXT

TIMEOUT = 10.0
Message = dict[str, str]


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


class AmiSession:
    """A minimal blocking AMI client for one-shot administration (login, actions, logoff)."""

    def __init__(self, host: str, port: int, timeout: float = TIMEOUT) -> None:
        self.where = f"{host}:{port}"
        self.timeout = timeout
        try:
            self.sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as e:
            raise ReloadFailed(f"cannot reach AMI at {self.where}: {e}") from e
        self._buf = b""
        self._next_id = 0
        greeting = self._line()
        if not greeting.startswith("Asterisk Call Manager"):
            raise ReloadFailed(f"{self.where} is not an Asterisk AMI (greeting {greeting!r})")

    def _line(self) -> str:
        while b"\r\n" not in self._buf:
            self._recv()
        line, self._buf = self._buf.split(b"\r\n", 1)
        return line.decode("utf-8", errors="replace")

    def _recv(self) -> None:
        try:
            chunk = self.sock.recv(65536)
        except OSError as e:
            raise ReloadFailed(f"AMI at {self.where}: {e}") from e
        if not chunk:
            raise ReloadFailed(f"AMI at {self.where} closed the connection")
        self._buf += chunk

    def _message(self) -> Message:
        while b"\r\n\r\n" not in self._buf:
            self._recv()
        block, self._buf = self._buf.split(b"\r\n\r\n", 1)
        msg: Message = {}
        for line in block.decode("utf-8", errors="replace").split("\r\n"):
            key, sep, value = line.partition(":")
            if sep:
                msg.setdefault(key.strip(), value.strip())
        return msg

    def action(self, name: str, **headers: str) -> tuple[Message, list[Message]]:
        """Send an action; return its response and the events that carry its ActionID
        (list actions end with an `...Complete` event)."""
        self._next_id += 1
        action_id = f"implus-dialplan-{os.getpid()}-{self._next_id}"
        lines = [f"Action: {name}", f"ActionID: {action_id}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        deadline = time.monotonic() + self.timeout
        response: Message | None = None
        events: list[Message] = []
        while time.monotonic() < deadline:
            msg = self._message()
            if msg.get("ActionID") != action_id:
                continue
            if "Response" in msg:
                response = msg
                if msg.get("EventList", "").lower() != "start":
                    return response, events
            elif response is not None:
                events.append(msg)
                if msg.get("EventList", "").lower() == "complete":
                    return response, events
        raise ReloadFailed(f"AMI at {self.where}: no answer to {name} within {self.timeout} s")

    def close(self) -> None:
        with contextlib.suppress(OSError):  # closing anyway; a failed Logoff loses nothing
            self.sock.sendall(b"Action: Logoff\r\n\r\n")
        self.sock.close()


@contextmanager
def ami_login(pbx: AsteriskPbx) -> Iterator[AmiSession]:
    """An AMI session logged in as the PBX's user (the one manager_implus.conf defines)."""
    session = AmiSession(pbx.host, pbx.management_port)
    try:
        response, _ = session.action(
            "Login", Username=pbx.username, Secret=_secret(pbx), Events="off"
        )
        if response.get("Response") != "Success":
            raise ReloadFailed(
                f"AMI login as {pbx.username!r} on {session.where} failed "
                f"({response.get('Message', 'no reason')}). On the first apply, add "
                "`#include manager_implus.conf` at the end of manager.conf and run "
                "`manager reload` on the Asterisk CLI once."
            )
        yield session
    finally:
        session.close()


class AmiReloader:
    """Asterisk: `Reload` per changed module, then check the generated dialplan is loaded."""

    def reload(self, pbx: Pbx, plan: ReloadPlan) -> list[str]:
        assert isinstance(pbx, AsteriskPbx)
        done: list[str] = []
        with ami_login(pbx) as ami:
            for module in plan.asterisk_modules:
                response, _ = ami.action("Reload", Module=module)
                if response.get("Response") != "Success":
                    raise ReloadFailed(
                        f"Asterisk refused to reload {module}: {response.get('Message')} "
                        f"(files are written; fix and run `implus dialplan apply --pbx "
                        f"{pbx.id} --force-reload`)"
                    )
                done.append(f"reloaded {module}")
            if "pbx_config" in plan.asterisk_modules:
                self._check_dialplan(ami, pbx)
        return done

    @staticmethod
    def _check_dialplan(ami: AmiSession, pbx: AsteriskPbx) -> None:
        response, _ = ami.action("ShowDialPlan", Context=AGENT_CONTEXT)
        if response.get("Response") != "Success":
            raise ReloadFailed(
                f"the dialplan reloaded but context {AGENT_CONTEXT} is missing on {pbx.id}: "
                "add `#include extensions_implus.conf` to extensions.conf "
                f"({response.get('Message', '')})"
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
