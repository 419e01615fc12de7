"""What every part of the bridge shares: the PBX, the router client, the call book.

`BridgeCore` also owns the two small duties every handler has: writing call events to
the session transcript (idempotently, so a replayed event writes nothing twice) and
calling the router without letting a refused or failed call take the bridge down.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import redis.exceptions

from admin_config.model import AdminConfig
from router.client import AsyncRouterClient, Result
from router.errors import RouterError
from router.ops import Op

from .batch import TranscriptWriter, together
from .callbook import Call, CallBook, CallKind
from .pbx import Asterisk

log = logging.getLogger("implus.ami_bridge")

FRESH_COMMAND_MS = 1000
T = TypeVar("T")


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class BridgeCore:
    config: AdminConfig
    pbx_id: str
    pbx: Asterisk
    router: AsyncRouterClient
    book: CallBook
    transcripts: TranscriptWriter
    clock: Callable[[], int] = now_ms
    ring_margin_s: float = 0.5
    """Asterisk stops ringing this long before the router's offer deadline, so an agent
    can never answer an offer the router already gave up on."""

    async def note(self, rec: Call, etype: str, key: str = "", /, **data: Any) -> None:
        """Add a call event to the call's session transcript (written in the background,
        in order). The entry and its client message id follow the convention both PBX
        bridges share (docs/esl-bridge.md, "Transcript entries"): `call_id`, `pbx`,
        `direction`, `leg`, `party` and the event's fields (empty ones left out); the id
        `<pbx>:<leg>:<type>[:<key>]` makes a repeat (after a restart) write nothing."""
        if not rec.session and rec.request:  # not persisted before a restart
            try:
                request = await self.router.request(rec.request)
            except (RouterError, redis.exceptions.RedisError) as e:
                log.warning("transcript entry %s of call %s not written: %s", etype, rec.id, e)
                return
            rec.session = request.session_id if request else ""
        if not rec.session:
            return
        leg = str(data.get("leg") or rec.id)
        entry = {
            "type": etype,
            "call_id": rec.id,
            "pbx": self.pbx_id,
            "direction": "inbound" if rec.kind is CallKind.INBOUND else "outbound",
            **{k: v for k, v in data.items() if v is not None and v != ""},
        }
        cmid = f"{self.pbx_id}:{leg}:{etype}" + (f":{key}" if key else "")
        self.transcripts.add(rec.session, entry, cmid[:128])

    async def run(self, what: str, *ops: Op[Any]) -> list[Any] | None:
        """Several router operations / call book steps in one round trip (in order).
        A failure is logged (reconciliation repairs what it left undone): None."""
        try:
            results = await self.router.run(together(*ops))
        except (RouterError, redis.exceptions.RedisError) as e:
            log.error("router call %s failed: %s", what, e)
            return None
        for result in results:
            if isinstance(result, Result) and not result.ok:
                log.info("router refused %s: %s", what, result.reason)
        return results

    async def ask(self, what: str, op: Callable[[], Awaitable[T]]) -> T | None:
        """Call the router; a failure is logged (the periodic reconciliation repairs what
        it left undone) and returns None. A refused change is a normal `Result`."""
        try:
            result = await op()
        except (RouterError, redis.exceptions.RedisError) as e:
            log.error("router call %s failed: %s", what, e)
            return None
        if isinstance(result, Result) and not result.ok:
            log.info("router refused %s: %s", what, result.reason)
        return result

    def is_fresh(self, at_ms: int) -> bool:
        """A command filed within the last second: the router's state cannot have moved
        on in a way the bridge has not seen (no need to read it back)."""
        return bool(at_ms) and 0 <= self.clock() - at_ms < FRESH_COMMAND_MS

    def ring_seconds(self, deadline_ms: int, at_ms: int, timeout_s: float) -> float:
        """How long to ring an agent for an offer: until its deadline minus the margin,
        so Asterisk gives up before the router does. Without the offer's deadline, the
        command's `at` + `timeout` (whole seconds, rounded down by the router) is used."""
        if not deadline_ms:
            deadline_ms = int((at_ms or self.clock()) + timeout_s * 1000)
        return round((deadline_ms - self.clock()) / 1000 - self.ring_margin_s, 3)

    def seconds_since(self, ms: int) -> float:
        return round(max(0, self.clock() - ms) / 1000, 3) if ms else 0.0
