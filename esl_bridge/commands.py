"""The router's commands to this PBX: a Redis stream read through the consumer group `bridge`.

Each stream entry becomes a frozen dataclass here, at the edge (docs/router-api.md lists the
fields); nothing past this module touches the wire dicts. Entries are acknowledged once
handled; entries a previous bridge process read but never acknowledged are read again first
(at-least-once; the handlers check the router's state, so a repeat is harmless).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping
from dataclasses import MISSING, dataclass, fields
from typing import Any, ClassVar

import redis

from router.keys import BRIDGE_GROUP

log = logging.getLogger(__name__)


class BadCommand(ValueError):
    """A stream entry that is not a command this bridge understands."""


@dataclass(frozen=True)
class RingAgent:
    """Ring `agent` for the waiting caller `call_id`; connect them when the agent answers."""

    type: ClassVar[str] = "ring_agent"
    offer: str
    request: str
    session: str
    agent: str
    call_id: str
    endpoint: str = ""
    agent_pbx: str = ""
    timeout: int = 20


@dataclass(frozen=True)
class CancelRing:
    """Stop ringing the agent of `offer` (it timed out, or the caller left)."""

    type: ClassVar[str] = "cancel_ring"
    offer: str
    request: str = ""
    agent: str = ""
    call_id: str = ""


@dataclass(frozen=True)
class Callback:
    """Call the customer back: the agent's phone first, on answer `accept(offer)`, then
    `number` through the trunk."""

    type: ClassVar[str] = "callback"
    offer: str
    request: str
    session: str
    agent: str
    number: str
    endpoint: str = ""
    timeout: int = 20


@dataclass(frozen=True)
class ClickToCall:
    """The agent calls `number` from the desktop: the agent's phone first, then the customer."""

    type: ClassVar[str] = "click_to_call"
    call: str
    session: str
    agent: str
    number: str
    endpoint: str = ""


@dataclass(frozen=True)
class Overflow:
    """Send the waiting caller to the entry point's overflow destination."""

    type: ClassVar[str] = "overflow"
    request: str
    call_id: str
    session: str = ""
    destination: str = ""


@dataclass(frozen=True)
class Hold:
    """Take the connected caller back on hold; the router routes `request` (new) next."""

    type: ClassVar[str] = "hold"
    request: str
    call_id: str
    agent: str = ""


Command = RingAgent | CancelRing | Callback | ClickToCall | Overflow | Hold
COMMANDS: dict[str, type[Command]] = {
    c.type: c for c in (RingAgent, CancelRing, Callback, ClickToCall, Overflow, Hold)
}


def parse_command(entry: Mapping[str, str]) -> Command:
    """The command of one stream entry; BadCommand if its type is unknown or a field is missing."""
    kind = entry.get("type", "")
    cls = COMMANDS.get(kind)
    if cls is None:
        raise BadCommand(f"unknown command type {kind!r}")
    values: dict[str, Any] = {}
    for f in fields(cls):
        raw = entry.get(f.name)
        if raw is None or raw == "":
            if f.default is MISSING:
                raise BadCommand(f"{kind} without {f.name}")
            continue
        if f.type == "int":
            try:
                values[f.name] = int(float(raw))
            except ValueError:
                raise BadCommand(f"{kind}: {f.name} must be a number, got {raw!r}") from None
        else:
            values[f.name] = raw
    return cls(**values)


@dataclass(frozen=True)
class Delivery:
    """One stream entry: its id (to acknowledge), when it was issued, and the raw fields."""

    id: str
    fields: Mapping[str, str]

    @property
    def age_s(self) -> float:
        """Seconds since the router issued it (0 if it carries no time)."""
        try:
            at = int(self.fields.get("at", ""))
        except ValueError:
            return 0.0
        return max(0.0, time.time() - at / 1000)


class CommandStream:
    """Reads one PBX's command stream as consumer `consumer` of the group `bridge`."""

    def __init__(self, rds: Any, key: str, consumer: str, block_ms: int = 1000) -> None:
        self.redis = rds
        self.key = key
        self.consumer = consumer
        self.block_ms = block_ms
        self._backlog = True
        """Read our own unacknowledged entries (id 0) before new ones (id >)."""

    def ensure_group(self) -> None:
        """Create the group at the start of the stream (so nothing issued before the first
        bridge ever ran is lost; old entries are dropped by age when read)."""
        try:
            self.redis.xgroup_create(self.key, BRIDGE_GROUP, id="0", mkstream=True)
        except redis.ResponseError as e:
            if "BUSYGROUP" not in str(e):
                raise

    def read(self, count: int = 50) -> Iterator[Delivery]:
        """The next entries: first our unacknowledged backlog, then new ones (blocking up to
        `block_ms`)."""
        start = "0" if self._backlog else ">"
        reply = self.redis.xreadgroup(
            BRIDGE_GROUP,
            self.consumer,
            {self.key: start},
            count=count,
            block=None if self._backlog else self.block_ms,
        )
        entries = reply[0][1] if reply else []
        if self._backlog and not entries:
            self._backlog = False
        for entry_id, data in entries:
            if data is None:  # deleted by MAXLEN trimming while pending
                self.ack(entry_id)
                continue
            yield Delivery(entry_id, data)

    def ack(self, entry_id: str) -> None:
        self.redis.xack(self.key, BRIDGE_GROUP, entry_id)
