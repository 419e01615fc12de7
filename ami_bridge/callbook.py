"""The bridge's small per-call state, kept in Redis so a restarted bridge knows every channel.

One `Call` per live call the bridge handles: an inbound caller (keyed by the caller's
Uniqueid, the call id the router knows) or an agent-first outbound call (keyed by the agent
leg's Uniqueid, which the bridge chose). It says which routing request, offer and session
the call belongs to and which channels are its legs. Every change is written through to
the hash `keys.pbx_calls(pbx_id)` before the bridge acts on Asterisk, so after a crash
the next bridge process loads the book and reconciles it with Asterisk's live channels
(`reconcile.py`) instead of guessing.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from router.ops import Command, cmd

log = logging.getLogger("implus.ami_bridge")


class CallKind(StrEnum):
    INBOUND = "inbound"
    """A caller at an entry point (routed voice request)."""
    CALLBACK = "callback"
    """The widget's "call me": a routed voice request, agent first, then the customer."""
    CLICK_TO_CALL = "click_to_call"
    """The desktop's click-to-call: agent first, then the customer; no routing."""


class CallState(StrEnum):
    WAITING = "waiting"
    """Caller on hold, no agent being rung."""
    RINGING = "ringing"
    """An agent leg is ringing."""
    CONNECTED = "connected"
    """The agent answered (inbound: bridged with the caller)."""
    OVERFLOWED = "overflowed"
    """Sent to the overflow destination; the router is done with it."""


@dataclass
class Call:
    id: str
    kind: CallKind
    state: CallState = CallState.WAITING
    channel: str = ""
    request: str = ""
    session: str = ""
    service: str = ""
    entry: str = ""
    user: str = ""
    exten: str = ""
    """Inbound: what the caller dialled (where `hold` Redirects it back to)."""
    caller_num: str = ""
    caller_name: str = ""
    language: str = ""
    offer: str = ""
    agent: str = ""
    leg: str = ""
    """The agent leg now ringing or connected (outbound: the call's own id)."""
    action: str = ""
    """ActionID of the Originate of `leg`."""
    customer_leg: str = ""
    """Outbound: the customer's channel, once the agent leg dials it."""
    number: str = ""
    """Outbound: the customer's number."""
    trunk: str = ""
    """Outbound: the trunk the customer is dialled through."""
    click: str = ""
    """Outbound: the router's id of a click-to-call (its `call.requested` entry)."""
    started_ms: int = 0
    ringing_ms: int = 0
    """When the agent's phone started ringing."""
    answered_ms: int = 0
    """When the agent answered."""
    bridged_ms: int = 0
    customer_answered_ms: int = 0
    ended_by: str = ""
    """Who hung up first: `agent` or `customer`."""
    agent_gone: bool = False
    """The agent's leg ended (and is in the transcript)."""
    customer_gone: bool = False
    """Outbound: the customer's leg ended (and is in the transcript)."""

    def to_json(self) -> str:
        # vars(), not dataclasses.asdict(): no deep copy (the enums are str)
        return json.dumps(vars(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Call:
        data: dict[str, Any] = json.loads(text)
        known = {f.name for f in dataclasses.fields(cls)}
        data = {k: v for k, v in data.items() if k in known}
        data["kind"] = CallKind(data["kind"])
        data["state"] = CallState(data.get("state") or "waiting")
        return cls(**data)

    def legs(self) -> tuple[str, ...]:
        """Uniqueids of this call's channels besides `id` itself."""
        return tuple(x for x in (self.leg, self.customer_leg) if x and x != self.id)


class CallBook:
    """Live calls by id, with lookups by leg Uniqueid and Originate ActionID."""

    def __init__(self, redis: Any, key: str) -> None:
        self._redis = redis
        self._key = key
        self._calls: dict[str, Call] = {}
        self._by_channel: dict[str, str] = {}
        self._by_action: dict[str, str] = {}
        self._keys_of: dict[str, set[str]] = {}
        self._agent_of: dict[str, str] = {}
        self._calls_of: dict[str, set[str]] = {}

    async def load(self) -> int:
        """Read the book from Redis (at start); returns how many calls it holds."""
        rows = await self._redis.hgetall(self._key)
        for call_id, text in rows.items():
            try:
                self._index(Call.from_json(text))
            except (ValueError, KeyError, TypeError) as e:
                log.error("dropping unreadable call record %s (%s): %r", call_id, e, text[:200])
                await self._redis.hdel(self._key, call_id)
        return len(self._calls)

    def get(self, call_id: str) -> Call | None:
        return self._calls.get(call_id)

    def find(self, uniqueid: str) -> Call | None:
        """The call a channel belongs to (the call's own id or one of its legs)."""
        call = self._calls.get(uniqueid)
        if call is None and uniqueid in self._by_channel:
            call = self._calls.get(self._by_channel[uniqueid])
        return call

    def by_action(self, action_id: str) -> Call | None:
        call_id = self._by_action.get(action_id)
        return self._calls.get(call_id) if call_id else None

    def of_agent(self, agent: str) -> list[Call]:
        """The calls an agent is being rung for or is on."""
        return [self._calls[c] for c in self._calls_of.get(agent, ()) if c in self._calls]

    def all(self) -> list[Call]:
        return list(self._calls.values())

    def __len__(self) -> int:
        return len(self._calls)

    async def save(self, call: Call) -> None:
        """Write the call through to Redis (before acting on Asterisk) and index it."""
        self._index(call)
        await self._redis.hset(self._key, call.id, call.to_json())

    def save_step(self, call: Call) -> Command:
        """`save` as a step to send in a pipeline with router operations
        (`batch.together`); the call is indexed now."""
        self._index(call)
        return cmd("HSET", self._key, call.id, call.to_json())

    def drop_step(self, call: Call) -> Command:
        """`drop` as a pipeline step; the call is forgotten here now."""
        self._unindex(call.id)
        self._calls.pop(call.id, None)
        return cmd("HDEL", self._key, call.id)

    def touch(self, call: Call) -> None:
        """Index a change that need not survive a restart (reconciliation rebuilds it):
        saves a Redis write on the busy path."""
        self._index(call)

    async def drop(self, call: Call) -> None:
        """The call is over: forget it here and in Redis."""
        self._unindex(call.id)
        self._calls.pop(call.id, None)
        await self._redis.hdel(self._key, call.id)

    def _index(self, call: Call) -> None:
        # Legs a call had before stay indexed until the call ends: late events of a
        # cancelled leg still reach the call (which ignores them) instead of nobody.
        self._calls[call.id] = call
        keys = self._keys_of.setdefault(call.id, set())
        for leg in call.legs():
            self._by_channel[leg] = call.id
            keys.add(leg)
        if call.action:
            self._by_action[call.action] = call.id
            keys.add("action:" + call.action)
        self._set_agent(call.id, call.agent)

    def _set_agent(self, call_id: str, agent: str) -> None:
        old = self._agent_of.pop(call_id, "")
        if old:
            calls = self._calls_of.get(old)
            if calls is not None:
                calls.discard(call_id)
                if not calls:
                    del self._calls_of[old]
        if agent:
            self._agent_of[call_id] = agent
            self._calls_of.setdefault(agent, set()).add(call_id)

    def _unindex(self, call_id: str) -> None:
        self._set_agent(call_id, "")
        for key in self._keys_of.pop(call_id, set()):
            if key.startswith("action:"):
                if self._by_action.get(key[7:]) == call_id:
                    del self._by_action[key[7:]]
            elif self._by_channel.get(key) == call_id:
                del self._by_channel[key]
