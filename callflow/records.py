"""The bridge's record of each live call, kept in Redis so a restarted bridge knows every one.

One `Call` per call a bridge handles: an inbound caller (keyed by the caller's channel id,
the call id the router knows) or an agent-first outbound call (keyed by the agent leg's id,
which the bridge chose). It says which routing request, offer and session the call belongs
to and which channels are its legs. Records live in the hash `keys.pbx_calls(pbx_id)`
(field = call id, value = JSON) and are written before the bridge acts on the PBX, so after
a crash the next bridge process loads them and reconciles them with the PBX's live channels
(`callflow.reconcile`) instead of guessing. One record type and one set of states for both
PBXs.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson

from router.ops import Command, Op, cmd, pairs

log = logging.getLogger("implus.callflow")


class CallKind(StrEnum):
    INBOUND = "inbound"
    """A caller at an entry point (a routed voice or VoIP request)."""
    CALLBACK = "callback"
    """A routed "call me": the agent first, then the customer."""
    CLICK_TO_CALL = "click_to_call"
    """The desktop's click-to-call: the agent first, then the customer; not routed."""

    @property
    def direction(self) -> str:
        return "inbound" if self is CallKind.INBOUND else "outbound"


class CallState(StrEnum):
    NEW = "new"
    """Inbound: at the entry point, its routing request not yet filed."""
    WAITING = "waiting"
    """Inbound: on hold, no agent being rung."""
    RINGING = "ringing"
    """An agent's phone rings for the call."""
    DIALING = "dialing"
    """Outbound: the agent answered; the customer's phone is being dialled."""
    CONNECTED = "connected"
    """Customer and agent talk (inbound: the agent answered and the router accepted)."""
    OVERFLOWED = "overflowed"
    """Inbound: sent to the entry point's overflow; the router is done with it."""
    TRANSFERRED = "transferred"
    """Inbound: handed on to a number (blind or attended); the router is done with it,
    the PBX still carries it."""


WAITING_STATES = (CallState.NEW, CallState.WAITING, CallState.RINGING)
"""Inbound states in which the router still routes the caller."""


@dataclass
class Call:
    """One call a bridge handles. Mutable; the flow saves every change that must survive."""

    id: str
    kind: CallKind
    state: CallState = CallState.NEW
    request: str = ""
    session: str = ""
    service: str = ""
    entry: str = ""
    user: str = ""
    media: str = "voice"
    """The router channel of an inbound call's requests: voice or voip."""
    exten: str = ""
    """Inbound: what the caller dialled (Asterisk transfers it back there to hold)."""
    number: str = ""
    """Inbound: the caller's number; outbound: the customer's number."""
    caller_name: str = ""
    language: str = ""
    hold_music: str = ""
    max_wait: int = 0
    channel: str = ""
    """The PBX's channel name of the caller (for logs)."""
    offer: str = ""
    agent: str = ""
    leg: str = ""
    """The agent leg now ringing or connected (outbound: the call's own id)."""
    customer_leg: str = ""
    """Outbound: the customer's channel, once dialled."""
    trunk: str = ""
    """Outbound: the trunk the customer is dialled through."""
    click: str = ""
    """Outbound click-to-call: the router's id of the click."""
    started_ms: int = 0
    waiting_since_ms: int = 0
    """Inbound: when the caller's current wait began (the entry point answered, or it went
    back on hold after a transfer); the entry point's max wait counts from here."""
    ringing_ms: int = 0
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
    held: bool = False
    """Call control: the customer is on hold."""
    apart: bool = False
    """Customer and agent are not in one bridge (Asterisk's hold, a consult)."""
    muted: bool = False
    """The customer does not hear the agent."""
    consult_leg: str = ""
    consult_kind: str = ""
    """`agent` or `number`: whom the agent consults (`consult_target`)."""
    consult_target: str = ""
    consult_state: str = ""
    """`dialing`, then `talking` once the target answered."""
    spy_leg: str = ""
    """A supervisor's phone listening in (`spy_by`, `spy_mode`)."""
    spy_by: str = ""
    spy_mode: str = ""
    spy_answered: bool = False
    recording: str = ""
    """The recording's file, relative to the PBX's recordings folder."""
    recording_ms: int = 0
    updated_ms: int = 0
    """When the record was last saved (reconciliation leaves very fresh ones alone)."""

    @property
    def direction(self) -> str:
        return self.kind.direction

    @property
    def inbound(self) -> bool:
        return self.kind is CallKind.INBOUND

    def to_json(self) -> str:
        # vars(), not dataclasses.asdict(): no deep copy (the enums are str). orjson: ~1.5
        # instead of ~13 us per save (a few per call); UTF-8 as is instead of \\u escapes,
        # the same JSON to any reader.
        return orjson.dumps(vars(self)).decode()

    @classmethod
    def from_json(cls, text: str) -> Call:
        data: dict[str, Any] = json.loads(text)
        known = {f.name for f in dataclasses.fields(cls)}
        data = {k: v for k, v in data.items() if k in known}
        data["kind"] = CallKind(data["kind"])
        data["state"] = CallState(data.get("state") or "new")
        return cls(**data)

    def legs(self) -> tuple[str, ...]:
        """Ids of this call's channels besides `id` itself."""
        legs = (self.leg, self.customer_leg, self.consult_leg, self.spy_leg)
        return tuple(x for x in legs if x and x != self.id)

    def clear_agent(self) -> None:
        """The agent leg is over: the caller waits again (inbound)."""
        if self.state is not CallState.OVERFLOWED:
            self.state = CallState.WAITING
        self.offer = self.agent = self.leg = self.ended_by = ""
        self.agent_gone = self.held = self.apart = self.muted = False
        self.answered_ms = self.bridged_ms = 0
        self.clear_consult()

    def clear_spy(self) -> None:
        """No supervisor listens in (any more)."""
        self.spy_leg = self.spy_by = self.spy_mode = ""
        self.spy_answered = False

    def clear_consult(self) -> None:
        """The consult is over (or never was)."""
        self.consult_leg = self.consult_kind = self.consult_target = self.consult_state = ""


class CallBook:
    """Live calls by id, with lookups by leg, offer and agent; mirrored to a Redis hash.

    Changes are indexed here at once; their Redis writes are `router.ops` commands the
    bridge sends (in the same round trip as the router operation they go with)."""

    def __init__(self, key: str) -> None:
        self.key = key
        self._calls: dict[str, Call] = {}
        self._by_leg: dict[str, str] = {}
        self._by_offer: dict[str, str] = {}
        self._calls_of: dict[str, set[str]] = {}
        self._indexed: dict[str, tuple[tuple[str, ...], str, str]] = {}
        """call id -> (legs, offer, agent) it is indexed under, to unindex exactly those."""

    def load(self) -> Op[int]:
        """Read the book from Redis (replacing what is in memory); unreadable records are
        logged and deleted. Returns how many calls it holds."""
        rows = pairs((yield cmd("HGETALL", self.key)))
        self._calls.clear()
        self._by_leg.clear()
        self._by_offer.clear()
        self._calls_of.clear()
        self._indexed.clear()
        bad = []
        for call_id, text in rows.items():
            try:
                self.index(Call.from_json(text))
            except (ValueError, KeyError, TypeError) as e:
                log.error("dropping unreadable call record %s (%s): %r", call_id, e, text[:200])
                bad.append(call_id)
        if bad:
            yield cmd("HDEL", self.key, *bad)
        return len(self._calls)

    def get(self, call_id: str) -> Call | None:
        return self._calls.get(call_id)

    def find(self, channel: str) -> Call | None:
        """The call a channel belongs to (the call's own id or one of its legs)."""
        if not channel:
            return None
        call = self._calls.get(channel)
        if call is None and channel in self._by_leg:
            call = self._calls.get(self._by_leg[channel])
        return call

    def by_offer(self, offer: str) -> Call | None:
        call_id = self._by_offer.get(offer)
        return self._calls.get(call_id) if call_id else None

    def of_agent(self, agent: str) -> list[Call]:
        """The calls an agent is being rung for or is on."""
        return [self._calls[c] for c in self._calls_of.get(agent, ()) if c in self._calls]

    def all(self) -> list[Call]:
        return list(self._calls.values())

    def __len__(self) -> int:
        return len(self._calls)

    def save_step(self, call: Call, now_ms: int) -> Command:
        """Index `call` now; the returned command writes it to Redis."""
        call.updated_ms = now_ms
        self.index(call)
        return cmd("HSET", self.key, call.id, call.to_json())

    def drop_step(self, call: Call) -> Command:
        """Forget `call` now; the returned command deletes it from Redis."""
        self._unindex(call.id)
        self._calls.pop(call.id, None)
        return cmd("HDEL", self.key, call.id)

    def index(self, call: Call) -> None:
        """Index a change in memory only (reconciliation rebuilds what a restart loses)."""
        # Legs a call had before stay indexed until the call ends: late events of a
        # cancelled leg still reach the call (which ignores them) instead of nobody.
        old_legs, old_offer, old_agent = self._indexed.get(call.id, ((), "", ""))
        self._calls[call.id] = call
        legs = tuple(dict.fromkeys((*old_legs, *call.legs())))
        for leg in legs:
            self._by_leg[leg] = call.id
        if old_offer and old_offer != call.offer and self._by_offer.get(old_offer) == call.id:
            del self._by_offer[old_offer]
        if call.offer:
            self._by_offer[call.offer] = call.id
        if old_agent != call.agent:
            self._drop_agent(call.id, old_agent)
            if call.agent:
                self._calls_of.setdefault(call.agent, set()).add(call.id)
        self._indexed[call.id] = (legs, call.offer, call.agent)

    def _drop_agent(self, call_id: str, agent: str) -> None:
        calls = self._calls_of.get(agent)
        if calls is not None:
            calls.discard(call_id)
            if not calls:
                del self._calls_of[agent]

    def _unindex(self, call_id: str) -> None:
        legs, offer, agent = self._indexed.pop(call_id, ((), "", ""))
        for leg in legs:
            if self._by_leg.get(leg) == call_id:
                del self._by_leg[leg]
        if offer and self._by_offer.get(offer) == call_id:
            del self._by_offer[offer]
        if agent:
            self._drop_agent(call_id, agent)
