"""What the call handlers share: the switch, the router, the call table, and small helpers
(per-call locks, ESL commands that must not raise, transcript entries).

Every handler of one call - an ESL event, a router command, reconciliation - holds that
call's lock while it reads and changes the call's record, so greenlets cannot interleave
halfway through a transition.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import gevent.lock

from admin_config.model import AdminConfig
from esl_bridge.client import EslClient
from esl_bridge.errors import EslError
from esl_bridge.presence import Presence
from esl_bridge.records import CallRecord, CallTable
from esl_bridge.settings import BridgeSettings
from router.errors import NotFound, RouterError

log = logging.getLogger("esl_bridge")


def now_ms() -> int:
    return int(time.time() * 1000)


class Switchboard:
    """The bridge's shared state and helpers (one per bridge process)."""

    def __init__(
        self,
        settings: BridgeSettings,
        config: AdminConfig,
        router: Any,
        esl: EslClient,
        calls: CallTable,
        presence: Presence,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self.settings = settings
        self.config = config
        self.pbx_id = settings.pbx_id
        self.router = router
        self.esl = esl
        self.calls = calls
        self.presence = presence
        self.clock = clock
        self._locks: dict[str, gevent.lock.RLock] = {}

    # -- locks -----------------------------------------------------------------------------

    def lock(self, call_id: str) -> gevent.lock.RLock:
        lock = self._locks.get(call_id)
        if lock is None:
            lock = self._locks[call_id] = gevent.lock.RLock()
        return lock

    def forget(self, call_id: str) -> None:
        """The call is over: drop its record and (unless someone waits on it) its lock."""
        self.calls.remove(call_id)
        lock = self._locks.get(call_id)
        if lock is not None and not lock.locked():
            del self._locks[call_id]

    # -- FreeSWITCH ------------------------------------------------------------------------

    def api(self, command: str) -> str | None:
        """Run a short API command; its output, or None if it could not be run (logged)."""
        try:
            return self.esl.api(command, timeout=self.settings.api_timeout, check=False)
        except EslError as e:
            log.warning("FreeSWITCH did not run %r: %s", command.split(" ", 1)[0], e)
            return None

    def api_ok(self, command: str) -> bool:
        reply = self.api(command)
        if reply is None:
            return False
        if reply.startswith("-"):
            log.info("%s: %s", command, reply.strip())
            return False
        return True

    def background(self, command: str) -> None:
        """Start a command that needs no answer (`bgapi`): FreeSWITCH runs it in a thread of
        its own, so a slow one does not hold up this connection's other commands."""
        try:
            self.esl.bgapi(command, timeout=self.settings.api_timeout)
        except EslError as e:
            log.warning("FreeSWITCH did not start %r: %s", command.split(" ", 1)[0], e)

    def background_ok(self, command: str) -> bool:
        """Run a command with `bgapi` and wait (this greenlet only) for its result."""
        try:
            job = self.esl.bgapi(command, timeout=self.settings.api_timeout)
            result = job.wait(self.settings.api_timeout)
        except EslError as e:
            log.warning("FreeSWITCH did not run %r: %s", command.split(" ", 1)[0], e)
            return False
        if not result.ok:
            log.info("%s: %s", command, result.body.strip())
        return result.ok

    def kill(self, uuid: str, cause: str = "NORMAL_CLEARING") -> None:
        """Hang channel `uuid` up (nothing happens if it is gone already)."""
        if uuid:
            self.background(f"uuid_kill {uuid} {cause}")

    def exists(self, uuid: str) -> bool | None:
        """Whether channel `uuid` is up; None if FreeSWITCH could not be asked."""
        reply = self.api(f"uuid_exists {uuid}")
        return None if reply is None else reply.strip() == "true"

    # -- the router ------------------------------------------------------------------------

    def note(self, rec: CallRecord, etype: str, key: str = "", **data: Any) -> None:
        """Append a call event to the session transcript, once per (leg, type, key)."""
        if not rec.session_id:
            return
        leg = str(data.get("leg") or rec.call_id)
        entry = {
            "type": etype,
            "call_id": rec.call_id,
            "pbx": self.pbx_id,
            "direction": rec.direction.value,
            **{k: v for k, v in data.items() if v not in (None, "")},
        }
        cmid = f"{self.pbx_id}:{leg}:{etype}" + (f":{key}" if key else "")
        try:
            self.router.append(rec.session_id, entry, cmid=cmid[:128])
        except NotFound:
            log.warning(
                "session %s of call %s is gone; %s not recorded", rec.session_id, rec.call_id, etype
            )
        except RouterError as e:
            log.error("could not record %s of call %s: %s", etype, rec.call_id, e)

    def note_hangup(
        self, rec: CallRecord, leg: str, party: str, cause: str | None, **data: Any
    ) -> None:
        """A `call.hangup` transcript entry for one leg (`party`: customer or agent)."""
        self.note(rec, "call.hangup", leg=leg, party=party, cause=cause, **data)

    def offer_failed(self, offer: str, reason: str) -> None:
        """Tell the router the agent of `offer` could not be connected (logged if it fails)."""
        try:
            self.router.offer_failed(offer, reason)
        except RouterError as e:
            log.error("cannot report offer %s as %s: %s", offer, reason, e)

    def cancel(self, request_id: str, reason: str) -> None:
        """End a request nobody took (logged if the router cannot be told)."""
        try:
            self.router.cancel(request_id, reason)
        except RouterError as e:
            log.error("cannot cancel request %s: %s", request_id, e)

    def complete(self, rec: CallRecord, why: str) -> None:
        """The contact of call `rec` is over (logged if the router cannot be told)."""
        try:
            self.router.complete(rec.request_id, why)
        except RouterError as e:
            log.error("call %s: cannot complete request %s: %s", rec.call_id, rec.request_id, e)

    def ended_by(self, rec: CallRecord, uuid: str) -> None:
        """Remember which side hung up first (`customer` or `agent`)."""
        with self.lock(rec.call_id):
            current = self.calls.get(rec.call_id)
            if current is None or current.ended_by:
                return
            agent_side = uuid == current.agent_leg
            if current.direction.value == "outbound":
                agent_side = uuid == current.call_id
            current.ended_by = "agent" if agent_side else "customer"
            self.calls.put(current)

    def seconds_since(self, ms: int) -> float:
        return round(max(0, self.clock() - ms) / 1000, 1) if ms else 0.0
