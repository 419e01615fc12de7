"""The domain: agents, routing requests, offers and sessions.

Plain values only - nothing here talks to Redis. Hashes read from Redis become these
frozen dataclasses in `router.store` (``from_hash``), so code past the store never
touches wire dicts.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property, lru_cache
from typing import Any, TypeVar

import orjson

T = TypeVar("T")


class Channel(StrEnum):
    """How the customer reaches us. ``voip`` is an outbound VoIP call placed for a session."""

    VOICE = "voice"
    CHAT = "chat"
    VOIP = "voip"

    @property
    def capacity_channel(self) -> Channel:
        """The capacity slot a contact uses: a VoIP call occupies the agent's voice slot."""
        return Channel.VOICE if self is Channel.VOIP else self

    @property
    def presence_sources(self) -> tuple[str, ...]:
        """Leases that must be alive to offer this channel: desktop, plus the phone for calls."""
        return ("desktop",) if self is Channel.CHAT else ("desktop", "sip")


class AgentStatus(StrEnum):
    """What the agent chose (or the lease reaper decided). Wrap-up is derived from time."""

    OFFLINE = "offline"
    AVAILABLE = "available"
    AWAY = "away"


class RequestState(StrEnum):
    """Routing request lifecycle: queued -> offered -> accepted -> closed, or a dead end."""

    QUEUED = "queued"
    OFFERED = "offered"
    ACCEPTED = "accepted"
    ABANDONED = "abandoned"
    OVERFLOWED = "overflowed"
    CLOSED = "closed"

    @property
    def is_final(self) -> bool:
        return self in (RequestState.ABANDONED, RequestState.OVERFLOWED, RequestState.CLOSED)


class OfferState(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    TIMEOUT = "timeout"
    FAILED = "failed"
    RESCINDED = "rescinded"


PRESENCE_SOURCES = ("desktop", "sip")
DEVICE_STATES = ("available", "busy", "offline")
DEFAULT_BLOCKS: dict[str, tuple[str, ...]] = {"voice": ("chat",)}
"""A call in progress blocks new chat offers unless the agent profile says otherwise."""


def _instance(cls: type[T], values: dict[str, Any]) -> T:
    """A frozen dataclass instance from ALL its field values, without the generated
    ``__init__`` (one ``object.__setattr__`` per field: ~6.5 us for a request's 27 fields
    against ~0.6 us here; the workers build one per request and per agent change). For
    classes without ``__slots__`` or ``__post_init__``; tests pin equality with ``__init__``."""
    obj = object.__new__(cls)
    obj.__dict__.update(values)
    return obj


def as_int(value: Any, default: int = 0) -> int:
    if value is None or value == "":
        return default  # most absent hash fields: no exception raised and caught twice
    try:
        return int(value)
    except (TypeError, ValueError):
        try:
            return int(float(value))
        except (TypeError, ValueError):
            return default


@dataclass(frozen=True)
class AgentProfile:
    """What an admin configures for an agent."""

    id: str
    name: str = ""
    skills: dict[str, int] = field(default_factory=dict)
    capacity: dict[str, int] = field(default_factory=lambda: {"voice": 1, "chat": 3})
    blocks: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_BLOCKS))
    """``{"voice": ("chat",)}``: while a voice contact is active, no chat is offered."""
    pbx: str = ""
    endpoint: str = ""
    weight: int = 1

    def blockers(self, channel: Channel) -> tuple[str, ...]:
        """Capacity channels whose active contacts block new offers on ``channel``."""
        return self._blockers.get(channel.capacity_channel, ())

    @cached_property
    def _blockers(self) -> dict[str, tuple[str, ...]]:
        return _blockers_of(tuple((src, tuple(b)) for src, b in self.blocks.items()))


@lru_cache(maxsize=1024)
def _blockers_of(blocks: tuple[tuple[str, tuple[str, ...]], ...]) -> dict[str, tuple[str, ...]]:
    """Per capacity channel, the channels that block it (profiles repeat a few ``blocks``:
    worked out once each; read only)."""
    slots = {b for _src, blocked in blocks for b in blocked}
    return {s: tuple(sorted(src for src, b in blocks if s in b)) for s in slots}


@dataclass(frozen=True)
class AgentState:
    """An agent's profile plus live state, as one consistent read of its hash."""

    profile: AgentProfile
    status: AgentStatus = AgentStatus.OFFLINE
    reason: str = ""
    load: dict[str, int] = field(default_factory=dict)
    busy: int = 0
    idle_since: int = 0
    wrapup_until: int = 0
    leases: dict[str, int] = field(default_factory=dict)
    devices: dict[str, str] = field(default_factory=dict)
    no_answer: int = 0
    last_offer: int = 0
    version: int = 0

    @cached_property
    def id(self) -> str:
        return self.profile.id

    def effective_status(self, now_ms: int) -> str:
        """``wrap-up`` while the wrap-up window runs, else the chosen status."""
        if self.status is AgentStatus.AVAILABLE and self.wrapup_until > now_ms:
            return "wrap-up"
        return self.status.value

    def free_slots(self, channel: Channel) -> int:
        slot = channel.capacity_channel
        return self.profile.capacity.get(slot, 0) - self.load.get(slot, 0)

    def unavailable_reason(self, channel: Channel, now_ms: int) -> str | None:
        """Why this agent cannot take ``channel`` now, or None if it can.

        Mirrors ``agent_refusal`` in ``router/lua/prelude.lua``; the reservation script is the
        authority, this copy only lets workers skip hopeless candidates without a round trip.
        """
        if self.status is not AgentStatus.AVAILABLE:
            return f"status {self.status.value}"
        for source in channel.presence_sources:
            if self.leases.get(source, 0) <= now_ms:
                return f"no {source} presence"
        if channel is not Channel.CHAT and self.devices.get("sip") == "busy":
            return "phone busy"
        if channel is not Channel.CHAT and self.devices.get("sip") == "offline":
            return "phone offline"
        if self.wrapup_until > now_ms:
            return "wrap-up"
        if self.free_slots(channel) <= 0:
            return "no free capacity"
        for blocker in self.profile.blockers(channel):
            if self.load.get(blocker, 0) > 0:
                return f"blocked by {blocker}"
        return None

    @classmethod
    def from_hash(cls, h: dict[str, str]) -> AgentState:
        """An agent from its whole Redis hash (profile fields plus live fields)."""
        caps: dict[str, int] = {}
        blocks: dict[str, tuple[str, ...]] = {}
        for k, v in h.items():
            prefix, sep, rest = k.partition(":")
            if prefix == "cap" and sep:
                caps[rest] = as_int(v)
            elif prefix == "blocks" and sep:
                blocks[rest] = tuple(x for x in v.split(",") if x)
        profile = AgentProfile(
            id=h["id"],
            name=h.get("name", ""),
            skills=_skills(h.get("skills") or "{}"),
            capacity=caps,
            blocks=blocks,
            pbx=h.get("pbx", ""),
            endpoint=h.get("endpoint", ""),
            weight=as_int(h.get("weight"), 1),
        )
        return cls(profile=profile).with_live(h)

    def with_live(self, h: dict[str, str]) -> AgentState:
        """This agent with the live fields of an ``agent.state`` event (profile unchanged)."""
        load = dict(self.load)
        leases = dict(self.leases)
        devices = dict(self.devices)
        for k, v in h.items():
            prefix, sep, rest = k.partition(":")
            if not sep:
                continue
            if prefix == "load":
                load[rest] = as_int(v)
            elif prefix == "lease":
                leases[rest] = as_int(v)
            elif prefix == "dev":
                devices[rest] = v
        return _instance(
            AgentState,
            {
                "profile": self.profile,
                "status": _STATUS.get(h.get("status") or "offline", AgentStatus.OFFLINE),
                "reason": h.get("reason", ""),
                "load": load,
                "busy": as_int(h.get("busy")),
                "idle_since": as_int(h.get("idle_since")),
                "wrapup_until": as_int(h.get("wrapup_until")),
                "leases": leases,
                "devices": devices,
                "no_answer": as_int(h.get("no_answer")),
                "last_offer": as_int(h.get("last_offer")),
                "version": as_int(h.get("v")),
            },
        )

    def counted(self, slot: str, count: int, now_ms: int) -> AgentState:
        """This agent with ``count`` more contacts on capacity ``slot`` (a worker counting
        its own reservation before its event comes back; -1 takes one back)."""
        load = dict(self.load)
        load[slot] = max(0, load.get(slot, 0) + count)
        values = dict(self.__dict__)
        values.pop("id", None)  # the cached id: the new state caches its own
        values.update(
            load=load,
            busy=max(0, self.busy + count),
            last_offer=now_ms if count > 0 else self.last_offer,
        )
        return _instance(AgentState, values)


_REQUEST_FIELDS = frozenset((
    "kind", "id", "channel", "service", "user", "session", "created", "state", "priority",
    "customer", "pbx", "call_id", "callback", "owner", "force_queue", "force_agent",
    "forced_at", "returning", "max_wait", "queues", "rule", "agent", "offer", "attempts",
    "accepted_at", "ended_at", "end_reason", "step", "score", "pinned", "pinned_until",
))  # fmt: skip
"""Fields of a request's hash and work item that are not ``rej:<agent>`` (others may be
there too: then the fields are scanned for those)."""

_STATUS = {s.value: s for s in AgentStatus}
_CHANNEL = {c.value: c for c in Channel}
_REQUEST_STATE = {s.value: s for s in RequestState}


def _loads(text: str) -> Any:
    """JSON by orjson (~5x less CPU: a customer per request a worker decides), by json where
    they differ: what orjson refuses (NaN, infinities, bad JSON: json's error) and long
    integers (orjson makes floats of those beyond 64 bits)."""
    if _LONG_NUMBER.search(text) is None:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)


_LONG_NUMBER = re.compile(r"\d{19}")


@lru_cache(maxsize=4096)
def _skills_cached(text: str) -> tuple[tuple[str, int], ...]:
    return tuple((k, int(v)) for k, v in json.loads(text).items())


def _skills(text: str) -> dict[str, int]:
    """Skills JSON as a dict; parsed once per distinct text (profiles repeat a lot)."""
    return dict(_skills_cached(text))


@dataclass(frozen=True)
class RoutingRequest:
    """A customer's ask for an agent on one channel, inside a session."""

    id: str
    channel: Channel
    service: str
    user_id: str
    session_id: str
    created: int
    state: RequestState = RequestState.QUEUED
    priority: int = 0
    customer: dict[str, Any] = field(default_factory=dict)
    pbx: str = ""
    call_id: str = ""
    callback: str = ""
    owner: str = ""
    """The session's owning agent when the request was filed (known-agent routing)."""
    force_queue: str = ""
    force_agent: str = ""
    forced_at: int = 0
    """When (ms) a supervisor moved the waiting request to ``force_agent`` / ``force_queue``:
    the wait for a forced agent counts from then, not from ``created``."""
    returning: bool = False
    """The user had a session before this one (rules may treat returning customers apart)."""
    max_wait: int = 0
    """Seconds the request may wait before it overflows (0: as long as the strategy lets it;
    a phone entry point's ``max_wait``)."""
    queues: tuple[str, ...] = ()
    rule: str = ""
    agent: str = ""
    offer: str = ""
    attempts: int = 0
    rejected_until: dict[str, int] = field(default_factory=dict)
    accepted_at: int = 0
    ended_at: int = 0

    @classmethod
    def from_hash(cls, h: dict[str, str]) -> RoutingRequest:
        """A request from its hash (or the fields its work item carries). Built without
        the dataclass ``__init__`` (:func:`_instance`): the workers build one per request."""
        customer = h.get("customer")
        queues = h.get("queues")
        channel = _CHANNEL.get(h["channel"])
        state = _REQUEST_STATE.get(h.get("state") or "queued")
        if channel is None or state is None:  # ValueError, as the enums raise it
            Channel(h["channel"])
            RequestState(h.get("state") or "queued")
        return _instance(
            cls,
            {
                "id": h["id"],
                "channel": channel,
                "service": h.get("service", ""),
                "user_id": h.get("user", ""),
                "session_id": h.get("session", ""),
                "created": as_int(h.get("created")),
                "state": state,
                "priority": as_int(h.get("priority")),
                "customer": _loads(customer) if customer and customer != "{}" else {},
                "pbx": h.get("pbx", ""),
                "call_id": h.get("call_id", ""),
                "callback": h.get("callback", ""),
                "owner": h.get("owner", ""),
                "force_queue": h.get("force_queue", ""),
                "force_agent": h.get("force_agent", ""),
                "forced_at": as_int(v) if (v := h.get("forced_at")) else 0,
                "returning": h.get("returning") == "1",
                "max_wait": as_int(h.get("max_wait")),
                "queues": tuple(_loads(queues)) if queues and queues != "[]" else (),
                "rule": h.get("rule", ""),
                "agent": h.get("agent", ""),
                "offer": h.get("offer", ""),
                "attempts": as_int(v) if (v := h.get("attempts")) else 0,
                "rejected_until": (
                    {}
                    if h.keys() <= _REQUEST_FIELDS  # a subset test in C: most have no rej:
                    else {k[4:]: as_int(v) for k, v in h.items() if k.startswith("rej:")}
                ),
                "accepted_at": as_int(v) if (v := h.get("accepted_at")) else 0,
                "ended_at": as_int(v) if (v := h.get("ended_at")) else 0,
            },
        )


@dataclass(frozen=True)
class Offer:
    id: str
    request_id: str
    agent_id: str
    channel: Channel
    session_id: str
    state: OfferState
    created: int
    deadline: int

    @classmethod
    def from_hash(cls, h: dict[str, str]) -> Offer:
        return cls(
            id=h["id"],
            request_id=h["request"],
            agent_id=h["agent"],
            channel=Channel(h["channel"]),
            session_id=h.get("session", ""),
            state=OfferState(h["state"]),
            created=as_int(h.get("created")),
            deadline=as_int(h.get("deadline")),
        )


@dataclass(frozen=True)
class Session:
    """One conversation of a user about a service, across every channel."""

    id: str
    user_id: str
    service: str
    state: str
    created: int
    owner: str = ""
    closed_at: int = 0
    disposition: str = ""
    last_activity: int = 0

    @property
    def is_open(self) -> bool:
        return self.state == "open"

    @classmethod
    def from_hash(cls, h: dict[str, str]) -> Session:
        return cls(
            id=h["id"],
            user_id=h.get("user", ""),
            service=h.get("service", ""),
            state=h.get("state", "open"),
            created=as_int(h.get("created")),
            owner=h.get("owner", ""),
            closed_at=as_int(h.get("closed_at")),
            disposition=h.get("disposition", ""),
            last_activity=as_int(h.get("activity")),
        )


@dataclass(frozen=True)
class Event:
    """One entry of the ``events`` stream: a type plus string fields."""

    id: str
    type: str
    fields: dict[str, str]

    def get(self, key: str, default: str = "") -> str:
        return self.fields.get(key, default)
