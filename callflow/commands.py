"""Router -> PBX bridge: the command contract, once for both bridges (docs/router-api.md).

The router's scripts produce every command in one place each (one Lua function per type in
`router/lua/prelude.lua`) and add it to `keys.pbx_commands(pbx_id)`; the bridge of that PBX
reads them through the consumer group `bridge`. Each stream entry becomes one of the frozen
dataclasses below at the edge (`parse_command`); nothing past it touches wire dicts.

Reading the stream is written once as sans-I/O operations (`CommandStream`, `router.ops`
steps) that each bridge runs with its own router client: asyncio on Asterisk, gevent on
FreeSWITCH. Delivery is at least once - a bridge that dies leaves its commands pending and
reads them again - so the call flow checks the router's state before acting on a command
that is not fresh (`callflow.policy`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, fields
from typing import Any, ClassVar

from router import ops
from router.keys import BRIDGE_GROUP
from router.ops import Op, cmd

SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.+-@:")
"""What a command's text fields may hold: they go into AMI headers, ESL commands and dial
strings. A newline would forge an AMI header; `,` `{` `}` `'` and spaces change an ESL
originate; `;` `|` `&` change a dial string (docs/call-flow.md, "Names")."""


class BadCommand(ValueError):
    """A stream entry that is not a command this bridge understands."""


@dataclass(frozen=True)
class RingAgent:
    """Ring `agent` for the waiting caller `call_id`; connect them when the agent answers and
    the router accepts `offer`."""

    type: ClassVar[str] = "ring_agent"
    offer: str
    request: str
    call_id: str
    agent: str
    session: str = ""
    endpoint: str = ""
    """The agent's phone as the router knows it (agents managed through the admin API are
    not in the admin YAML)."""
    agent_pbx: str = ""
    timeout: float = 20.0
    """Seconds the offer lasts (the router rounds down to whole seconds; for a router
    that sends no `deadline`)."""
    deadline: int = 0
    """When the offer times out (ms, the router's clock): the agent rings until then."""
    at: int = 0
    """When the router issued it (ms)."""


@dataclass(frozen=True)
class CancelRing:
    """Stop ringing the agent of `offer` (it timed out, was rescinded, the caller left)."""

    type: ClassVar[str] = "cancel_ring"
    offer: str
    request: str = ""
    agent: str = ""
    call_id: str = ""
    at: int = 0


@dataclass(frozen=True)
class Callback:
    """A routed "call me": the agent's phone first; on answer `accept(offer)`, then `number`
    through the trunk."""

    type: ClassVar[str] = "callback"
    offer: str
    request: str
    agent: str
    number: str
    session: str = ""
    endpoint: str = ""
    timeout: float = 20.0
    deadline: int = 0
    """When the offer times out (ms), as `RingAgent.deadline`."""
    at: int = 0


@dataclass(frozen=True)
class ClickToCall:
    """The desktop's click-to-call: the agent's phone first, then `number` (not routed)."""

    type: ClassVar[str] = "click_to_call"
    call: str
    """The router's id of the click (its `call.requested` transcript entry)."""
    session: str
    agent: str
    number: str
    endpoint: str = ""
    at: int = 0


@dataclass(frozen=True)
class Overflow:
    """Send the waiting caller `call_id` to its entry point's overflow destination."""

    type: ClassVar[str] = "overflow"
    request: str
    call_id: str
    session: str = ""
    destination: str = ""
    """The strategy's overflow target (a label for the transcript)."""
    at: int = 0


@dataclass(frozen=True)
class Hold:
    """The call was transferred: the caller goes back on hold as `request` (new); a
    ring_agent for it follows."""

    type: ClassVar[str] = "hold"
    request: str
    call_id: str
    agent: str = ""
    at: int = 0


@dataclass(frozen=True)
class CallControl:
    """The agent on the call (or a supervisor, `by`) acts on connected call `call_id`:
    hold, resume, mute, unmute, transfer (to a number; to a queue or an agent the router
    sends `hold`), consult (an agent or a number), complete, cancel (the consult), hangup
    (`callflow.control`)."""

    type: ClassVar[str] = "call_control"
    call_id: str
    request: str
    action: str
    agent: str = ""
    """The agent on the call."""
    by: str = ""
    session: str = ""
    target_kind: str = ""
    """`agent` or `number` (transfer, consult)."""
    target: str = ""
    endpoint: str = ""
    """A target agent's phone as the router knows it."""
    target_pbx: str = ""
    at: int = 0


@dataclass(frozen=True)
class Supervise:
    """Supervisor `supervisor` listens to, whispers to the agent of, barges in on (`mode`
    listen / whisper / barge) or leaves (`stop`) connected call `call_id`: the bridge rings
    the supervisor's phone (`callflow.control`)."""

    type: ClassVar[str] = "supervise"
    call_id: str
    request: str
    supervisor: str
    mode: str
    agent: str = ""
    session: str = ""
    at: int = 0


Command = (
    RingAgent | CancelRing | Callback | ClickToCall | Overflow | Hold | CallControl | Supervise
)
COMMANDS: dict[str, type[Command]] = {
    c.type: c
    for c in (RingAgent, CancelRing, Callback, ClickToCall, Overflow, Hold, CallControl, Supervise)
}


_FIELDS: dict[str, tuple[tuple[str, str, bool], ...]] = {
    kind: tuple((f.name, str(f.type), f.default is MISSING) for f in fields(c))
    for kind, c in COMMANDS.items()
}
"""Per command type: (name, type, required) of its fields (`fields()` is slow to ask)."""


def parse_command(entry: Mapping[str, str]) -> Command:
    """The command of one stream entry; `BadCommand` says what is wrong with it."""
    kind = entry.get("type", "")
    cls = COMMANDS.get(kind)
    if cls is None:
        raise BadCommand(
            f"unknown PBX command type {kind!r} (known: {', '.join(sorted(COMMANDS))}); "
            "is the bridge older than the router?"
        )
    values: dict[str, Any] = {}
    described = _FIELDS[kind]
    missing = [name for name, _, required in described if required and not entry.get(name)]
    if missing:
        raise BadCommand(f"{kind}: missing {', '.join(missing)} in {dict(entry)!r:.300}")
    for name, typ, _ in described:
        raw = entry.get(name)
        if raw is None or raw == "":
            continue
        if typ in ("float", "int"):
            try:
                number = float(raw)
            except ValueError:
                raise BadCommand(f"{kind}: {name} must be a number, got {raw!r}") from None
            values[name] = int(number) if typ == "int" else number
        elif len(raw) > 128 or not SAFE.issuperset(raw):
            raise BadCommand(f"{kind}: {name}={raw[:80]!r} has characters not allowed")
        else:
            values[name] = raw
    return cls(**values)


@dataclass(frozen=True)
class Delivery:
    """One stream entry: its id (to acknowledge) and its raw fields."""

    id: str
    fields: Mapping[str, str]

    def age_s(self, now_ms: int | None = None) -> float:
        """Seconds since the router issued it (0 if it carries no time)."""
        try:
            at = int(self.fields.get("at", ""))
        except ValueError:
            return 0.0
        now = time.time() * 1000 if now_ms is None else now_ms
        return max(0.0, (now - at) / 1000)


class CommandStream:
    """One PBX's command stream, read as consumer `consumer` of the group `bridge`.

    Sans-I/O: each method returns a `router.ops` operation that the bridge runs with its
    router client (`client.run(op)`), so both concurrency models share this code.
    """

    def __init__(self, key: str, consumer: str) -> None:
        self.key = key
        self.consumer = consumer

    def ensure_group(self) -> Op[None]:
        """Create the group at the start of the stream, so commands filed before the first
        bridge ever ran are read too (stale ones are recognised by the call flow)."""
        if (yield cmd("EXISTS", self.key)):
            groups = yield cmd("XINFO", "GROUPS", self.key)
            if any(_field(g, "name") == BRIDGE_GROUP for g in groups):
                return
        yield cmd("XGROUP", "CREATE", self.key, BRIDGE_GROUP, "0", "MKSTREAM")

    def read(self, backlog: bool, block_ms: int | None, count: int = 200) -> Op[list[Delivery]]:
        """With `backlog`: the entries this consumer read before but never acknowledged
        (after a restart or a lost link); else new entries, waiting up to `block_ms`."""
        args: list[Any] = ["XREADGROUP", "GROUP", BRIDGE_GROUP, self.consumer, "COUNT", count]
        if not backlog and block_ms is not None:
            args += ["BLOCK", block_ms]
        reply = yield cmd(*args, "STREAMS", self.key, "0" if backlog else ">")
        out = []
        gone = []
        for entry_id, data in _entries(reply):
            if data is None:  # trimmed by MAXLEN while pending
                gone.append(entry_id)
            else:
                out.append(Delivery(entry_id, data))
        if gone:
            yield from self.ack(gone)
        return out

    def ack(self, entry_ids: list[str]) -> Op[None]:
        if entry_ids:
            yield cmd("XACK", self.key, BRIDGE_GROUP, *entry_ids)

    def ack_step(self, entry_id: str) -> ops.Command:
        """Acknowledging one entry as a step (sent after the writes of the flow it
        started, in the same round trip: a crash in between re-reads the command)."""
        return cmd("XACK", self.key, BRIDGE_GROUP, entry_id)


def _field(row: Any, name: str) -> Any:
    """A field of an XINFO row (RESP2 flat list or RESP3/redis-py dict)."""
    if isinstance(row, dict):
        return row.get(name)
    return dict(zip(row[::2], row[1::2], strict=True)).get(name)


def _entries(reply: Any) -> list[tuple[str, dict[str, str] | None]]:
    """XREADGROUP's reply (RESP2 list or RESP3 map) as (id, fields) pairs."""
    if not reply:
        return []
    rows = reply[0][1] if isinstance(reply, list) else next(iter(reply.values()))[0]
    out: list[tuple[str, dict[str, str] | None]] = []
    for entry_id, data in rows:
        if data is None:
            out.append((entry_id, None))
        elif isinstance(data, dict):
            out.append((entry_id, data))
        else:
            out.append((entry_id, dict(zip(data[::2], data[1::2], strict=True))))
    return out
