"""What the bridge knows about each call it handles, kept in Redis so a restarted bridge resumes.

One `CallRecord` per call: for a customer calling an entry point it is keyed by the
customer's channel UUID; for an outbound call (click-to-call, callback) by the agent's
channel UUID (the bridge chooses it with `origination_uuid`). Records live in the hash
`keys.pbx_calls(pbx_id)` (field = call id, value = JSON) and are written on every state
change, before the router or FreeSWITCH is told, so that whatever a crash interrupts the
next bridge finds and repairs (esl_bridge.reconcile).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

log = logging.getLogger(__name__)


class CallState(StrEnum):
    """Where a call stands, from the bridge's point of view."""

    NEW = "new"
    """Parked at an entry point; the routing request is being filed."""
    WAITING = "waiting"
    """On hold (music), waiting for the router to pick an agent."""
    RINGING = "ringing"
    """An agent's phone rings for it (outbound: the agent's phone, before the customer)."""
    DIALING = "dialing"
    """Outbound: the agent answered; the customer's phone rings through the trunk."""
    CONNECTED = "connected"
    """Customer and agent talk."""


class Direction(StrEnum):
    INBOUND = "inbound"
    """A customer called an entry point."""
    OUTBOUND = "outbound"
    """The agent calls a customer (click-to-call, a callback): agent first."""


@dataclass
class CallRecord:
    """One call the bridge handles. Mutable; `CallTable.put` persists every change."""

    call_id: str
    direction: Direction
    state: CallState
    started_ms: int
    request_id: str = ""
    session_id: str = ""
    service: str = ""
    entry: str = ""
    user: str = ""
    number: str = ""
    language: str = ""
    hold_music: str = ""
    max_wait: int = 0
    offer: str = ""
    agent: str = ""
    agent_leg: str = ""
    """The agent's channel UUID (inbound: the leg being rung or connected; outbound: call_id)."""
    ringing_ms: int = 0
    connected_ms: int = 0
    customer_leg: str = ""
    """Outbound: the customer's channel, once the dialplan bridged it."""
    kind: str = ""
    """Outbound: `click_to_call` or `callback`."""
    command: str = ""
    """Outbound click-to-call: the router's call id (its `call.requested` transcript entry)."""
    trunk: str = ""
    ended_by: str = ""
    updated_ms: int = 0
    """When the record was last stored (reconciliation leaves very fresh ones alone)."""

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> CallRecord:
        data: dict[str, Any] = json.loads(text)
        known = {f.name for f in dataclasses.fields(cls)}
        record = cls(**{k: v for k, v in data.items() if k in known})
        record.direction = Direction(record.direction)
        record.state = CallState(record.state)
        return record

    def legs(self) -> Iterator[str]:
        """Every channel UUID of the call."""
        for leg in (self.call_id, self.agent_leg, self.customer_leg):
            if leg:
                yield leg


class CallTable:
    """The bridge's calls: in memory, indexed by every leg and offer, and mirrored to Redis."""

    def __init__(self, redis: Any, key: str) -> None:
        self.redis = redis
        self.key = key
        self._calls: dict[str, CallRecord] = {}
        self._by_leg: dict[str, str] = {}
        self._by_offer: dict[str, str] = {}
        self._indexed: dict[str, tuple[tuple[str, ...], str]] = {}
        """call id -> (legs, offer) it is indexed under, to unindex exactly those."""

    def load(self) -> list[CallRecord]:
        """Read every record from Redis (replacing what is in memory); unreadable ones are
        logged and dropped."""
        self._calls.clear()
        self._by_leg.clear()
        self._by_offer.clear()
        self._indexed.clear()
        for call_id, text in self.redis.hgetall(self.key).items():
            try:
                record = CallRecord.from_json(text)
            except (ValueError, TypeError) as e:
                log.error("dropping unreadable call record %s: %s", call_id, e)
                self.redis.hdel(self.key, call_id)
                continue
            self._index(record)
        return list(self._calls.values())

    def put(self, record: CallRecord) -> None:
        """Store `record` (Redis first, so a crash right after leaves it findable)."""
        record.updated_ms = int(time.time() * 1000)
        self.redis.hset(self.key, record.call_id, record.to_json())
        self._unindex(record.call_id)
        self._index(record)

    def remove(self, call_id: str) -> CallRecord | None:
        self.redis.hdel(self.key, call_id)
        return self._unindex(call_id)

    def get(self, call_id: str) -> CallRecord | None:
        return self._calls.get(call_id)

    def by_leg(self, uuid: str) -> CallRecord | None:
        """The call one of whose channels is `uuid`."""
        call_id = self._by_leg.get(uuid)
        return self._calls.get(call_id) if call_id else None

    def by_offer(self, offer: str) -> CallRecord | None:
        call_id = self._by_offer.get(offer)
        return self._calls.get(call_id) if call_id else None

    def all(self) -> list[CallRecord]:
        return list(self._calls.values())

    def __len__(self) -> int:
        return len(self._calls)

    def _index(self, record: CallRecord) -> None:
        self._calls[record.call_id] = record
        legs = tuple(record.legs())
        for leg in legs:
            self._by_leg[leg] = record.call_id
        if record.offer:
            self._by_offer[record.offer] = record.call_id
        self._indexed[record.call_id] = (legs, record.offer)

    def _unindex(self, call_id: str) -> CallRecord | None:
        record = self._calls.pop(call_id, None)
        legs, offer = self._indexed.pop(call_id, ((), ""))
        for leg in legs:
            if self._by_leg.get(leg) == call_id:
                del self._by_leg[leg]
        if offer and self._by_offer.get(offer) == call_id:
            del self._by_offer[offer]
        return record
