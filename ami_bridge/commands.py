"""Router -> bridge: the PBX command stream (docs/router-api.md), as frozen dataclasses.

The router's scripts add commands to `keys.pbx_commands(pbx_id)`; the bridge of that PBX
reads them through the consumer group `bridge` and acknowledges each one once handled.
Delivery is at least once (a bridge that dies leaves its commands pending, and the next
process of the same consumer reads them again), so every handler checks the router's
current state before acting - a stale or repeated command does nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import redis.asyncio
import redis.exceptions

from router.keys import BRIDGE_GROUP

from .errors import BadCommand

log = logging.getLogger("implus.ami_bridge")


@dataclass(frozen=True)
class RingAgent:
    """Ring `agent` for the caller `call_id`; on answer accept `offer`."""

    offer: str
    request: str
    session: str
    agent: str
    endpoint: str
    agent_pbx: str
    call_id: str
    timeout: float
    at: int


@dataclass(frozen=True)
class CancelRing:
    """Stop ringing the agent leg of `offer` (timed out, rescinded, caller gone)."""

    offer: str
    request: str
    agent: str
    call_id: str
    at: int


@dataclass(frozen=True)
class Callback:
    """A routed "call me": ring the agent first; on answer accept and dial `number`."""

    offer: str
    request: str
    session: str
    agent: str
    endpoint: str
    number: str
    timeout: float
    at: int


@dataclass(frozen=True)
class ClickToCall:
    """The desktop's click-to-call: the agent's phone first, then `number`."""

    call: str
    session: str
    agent: str
    endpoint: str
    number: str
    at: int


@dataclass(frozen=True)
class Overflow:
    """Send the waiting caller `call_id` to its entry point's overflow destination."""

    request: str
    session: str
    call_id: str
    destination: str
    at: int


@dataclass(frozen=True)
class Hold:
    """The call was transferred: take the caller back on hold under `request` (the new
    request); a ring_agent for it follows."""

    request: str
    call_id: str
    agent: str
    at: int


Command = RingAgent | CancelRing | Callback | ClickToCall | Overflow | Hold

_TYPES: dict[str, type[Any]] = {
    "ring_agent": RingAgent,
    "cancel_ring": CancelRing,
    "callback": Callback,
    "click_to_call": ClickToCall,
    "overflow": Overflow,
    "hold": Hold,
}
_REQUIRED: dict[type[Any], tuple[str, ...]] = {
    RingAgent: ("offer", "request", "agent", "call_id"),
    CancelRing: ("offer",),
    Callback: ("offer", "request", "agent", "number"),
    ClickToCall: ("call", "session", "agent", "number"),
    Overflow: ("request", "call_id"),
    Hold: ("request", "call_id"),
}
_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.+-@")


def parse_command(fields: Mapping[str, str]) -> Command:
    """One stream entry as a command; `BadCommand` says what is wrong with it.

    Values the bridge passes into AMI headers or the dialplan must be made of safe
    characters (docs/call-flow.md, "Names"): a newline would forge an AMI header.
    """
    kind = fields.get("type", "")
    cls = _TYPES.get(kind)
    if cls is None:
        raise BadCommand(
            f"unknown PBX command type {kind!r} (known: {', '.join(sorted(_TYPES))}); "
            "is the bridge older than the router?"
        )
    values: dict[str, Any] = {}
    for name in cls.__dataclass_fields__:
        raw = fields.get(name, "")
        if name in ("timeout",):
            values[name] = _number(kind, name, raw, 20.0)
        elif name == "at":
            values[name] = int(_number(kind, name, raw, 0.0))
        else:
            if raw and not set(raw) <= _SAFE:
                raise BadCommand(f"{kind}: field {name}={raw!r} has characters not allowed")
            values[name] = raw
    missing = [n for n in _REQUIRED[cls] if not values.get(n)]
    if missing:
        raise BadCommand(f"{kind}: missing {', '.join(missing)} in {dict(fields)!r}")
    command: Command = cls(**values)
    return command


def _number(kind: str, name: str, raw: str, default: float) -> float:
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise BadCommand(f"{kind}: {name} must be a number, got {raw!r}") from None


class CommandStream:
    """Reads this bridge's commands through the consumer group `bridge`."""

    def __init__(self, client: redis.asyncio.Redis, key: str, consumer: str) -> None:
        self._redis: Any = client
        self.key = key
        self.consumer = consumer
        self._acks: list[str] = []
        self._ack_wake = asyncio.Event()

    async def ensure_group(self) -> None:
        """Create the group at the stream's start, so commands filed before the bridge
        first ran are read too (stale ones are recognised by their handlers)."""
        try:
            await self._redis.xgroup_create(self.key, BRIDGE_GROUP, id="0", mkstream=True)
        except redis.exceptions.ResponseError as e:
            if "BUSYGROUP" not in str(e):
                raise

    async def pending(self, count: int = 500) -> list[tuple[str, dict[str, str]]]:
        """Commands this consumer read before but never acknowledged."""
        reply = await self._redis.xreadgroup(
            BRIDGE_GROUP, self.consumer, {self.key: "0"}, count=count
        )
        return [(i, f) for i, f in (reply[0][1] if reply else []) if f]

    async def read(self, block_ms: int, count: int = 200) -> list[tuple[str, dict[str, str]]]:
        """New commands, waiting up to `block_ms` for the first."""
        reply = await self._redis.xreadgroup(
            BRIDGE_GROUP, self.consumer, {self.key: ">"}, count=count, block=block_ms
        )
        return list(reply[0][1]) if reply else []

    async def ack(self, *entry_ids: str) -> None:
        if entry_ids:
            await self._redis.xack(self.key, BRIDGE_GROUP, *entry_ids)

    def ack_soon(self, entry_id: str) -> None:
        """Acknowledge in the background, many ids per XACK (`run_acks` sends them)."""
        self._acks.append(entry_id)
        self._ack_wake.set()

    async def run_acks(self) -> None:
        """Send the acknowledgements `ack_soon` collected, until cancelled."""
        while True:
            await self._ack_wake.wait()
            self._ack_wake.clear()
            ids, self._acks = self._acks, []
            try:
                await self.ack(*ids)
            except redis.exceptions.RedisError as e:
                log.error("acknowledging %d commands failed (%s); retrying", len(ids), e)
                self._acks[:0] = ids
                await asyncio.sleep(1)
                self._ack_wake.set()
