"""The router's client API: what the chat service, the PBX bridges and the CLI call.

:class:`RouterClient` (redis-py, for threads/gevent) and :class:`AsyncRouterClient`
(redis.asyncio, for the asyncio AMI bridge) expose the same operations, each written once
in :class:`RouterOps` as a sans-I/O generator (see :mod:`router.ops`). Every state change
is one atomic Lua script; a refused change comes back as a :class:`Result` with the
reason, never as an exception.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar

import redis
import redis.asyncio

from router import connect, durable, ops, scripts
from router.errors import InvalidInput, NotFound, RouterUnavailable
from router.ewt import estimate_wait, service_level
from router.keys import Keys
from router.model import (
    PRESENCE_SOURCES,
    AgentProfile,
    AgentState,
    AgentStatus,
    Channel,
    Event,
    Offer,
    RoutingRequest,
    Session,
)
from router.ops import Batch, Op, Script, Step, cmd, pairs
from router.strategy import CHANNELS, Strategy, parse_strategy

P = ParamSpec("P")
T = TypeVar("T")

MAX_ID = 128
MAX_ENTRY_BYTES = 64 * 1024
STATS_WINDOW_MS = 15 * 60 * 1000
TRACE_TTL_S = 7 * 24 * 3600
DEFAULT_STRATEGY = """\
# Built-in strategy used until an admin loads one: every request to one queue.
defaults: {queue: general}
queues: {general: {}}
rules:
  - name: everyone
    actions: {queue: general}
"""


def new_id() -> str:
    return uuid.uuid4().hex


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class Result:
    """Outcome of a state change: ``ok`` or the reason it was refused."""

    ok: bool
    reason: str = ""
    request_id: str = ""
    session_id: str = ""

    def __bool__(self) -> bool:
        return self.ok


@dataclass(frozen=True)
class Submitted:
    request_id: str
    session_id: str
    joined_existing: bool
    """True when the request joined the user's already open session for the service."""


@dataclass(frozen=True)
class Appended:
    entry_id: str
    duplicate: bool
    """True when this client message id was already stored (nothing new was written)."""
    session_state: str


@dataclass(frozen=True)
class QueueStats:
    queue: str
    channel: str
    waiting: int
    longest_wait_s: float
    estimated_wait_s: float | None
    service_level: float | None
    """Share of answers in the window within the queue's target, None without answers."""
    answered: int
    free_agents: int


def _check_id(name: str, value: str) -> str:
    if (
        not isinstance(value, str)
        or not value
        or len(value) > MAX_ID
        or any(c in value for c in "{}:\n\r\t ")
    ):
        raise InvalidInput(
            f"{name} must be a non-empty string of at most {MAX_ID} characters "
            f"without spaces, colons or braces, got {value!r}"
        )
    return value


def _channel(value: str) -> Channel:
    try:
        return Channel(value)
    except ValueError:
        raise InvalidInput(
            f"channel must be one of {', '.join(c.value for c in Channel)}, got {value!r}"
        ) from None


def _result(reply: list[Any]) -> Result:
    if int(reply[0]) == 1:
        return Result(
            True,
            request_id=str(reply[1]) if len(reply) > 1 else "",
            session_id=str(reply[2]) if len(reply) > 2 else "",
        )
    return Result(False, str(reply[1]) if len(reply) > 1 else "refused")


def transcript_entry(entry_id: str, fields: Mapping[str, str]) -> dict[str, Any]:
    """A transcript stream entry as one dict: id, type, at (ms) and the entry's data."""
    data = json.loads(fields.get("data") or "{}")
    return {**data, "id": entry_id, "type": fields.get("type", ""), "at": int(fields.get("at", 0))}


def strategy_settings(strategy: Strategy, history_ttl_s: int) -> list[str]:
    """The strategy values the Lua scripts read from the strategy hash."""
    d = strategy.defaults
    out = [
        "reject_delay_ms",
        str(int(d.reject_delay * 1000)),
        "max_no_answer",
        str(d.max_no_answer),
        "history_ttl",
        str(history_ttl_s),
    ]
    for ch in CHANNELS:
        out += [f"wrapup_{ch}", str(int(d.wrapup.get(ch, 0) * 1000))]
    return out


def profile_fields(p: AgentProfile) -> list[str]:
    out = [
        "name",
        p.name,
        "skills",
        json.dumps(p.skills, sort_keys=True),
        "pbx",
        p.pbx,
        "endpoint",
        p.endpoint,
        "weight",
        str(p.weight),
    ]
    for ch, n in sorted(p.capacity.items()):
        out += [f"cap:{ch}", str(int(n))]
    for ch, blocked in sorted(p.blocks.items()):
        out += [f"blocks:{ch}", ",".join(blocked)]
    return out


class RouterOps:
    """Every client operation as a generator of Redis steps (no I/O here)."""

    def __init__(
        self, keys: Keys, clock: Callable[[], int] = now_ms, history_ttl_s: int = 30 * 24 * 3600
    ) -> None:
        self.keys = keys
        self.clock = clock
        self.history_ttl_s = history_ttl_s

    # --- agents ----------------------------------------------------------------

    def upsert_agent(self, profile: AgentProfile) -> Op[bool]:
        """Create or update an agent's profile (live state is kept). True if created."""
        _check_id("agent id", profile.id)
        for ch, n in profile.capacity.items():
            if ch not in ("voice", "chat") or not isinstance(n, int) or n < 0:
                raise InvalidInput(
                    f"capacity.{ch}: channels are voice and chat (voip uses voice), counts >= 0"
                )
        for skill, level in profile.skills.items():
            if not isinstance(level, int) or level < 0:
                raise InvalidInput(f"skills.{skill}: level must be an integer >= 0")
        reply = yield Script("upsert_agent", (profile.id, *profile_fields(profile)))
        return bool(int(reply[1]))

    def remove_agent(self, agent_id: str) -> Op[Result]:
        return _result((yield Script("remove_agent", (_check_id("agent id", agent_id),))))

    def agent(self, agent_id: str) -> Op[AgentState | None]:
        h = pairs((yield cmd("HGETALL", self.keys.agent(_check_id("agent id", agent_id)))))
        return AgentState.from_hash(h) if h else None

    def agents(self) -> Op[list[AgentState]]:
        ids = sorted((yield cmd("SMEMBERS", self.keys.agents())))
        if not ids:
            return []
        replies = yield Batch(tuple(cmd("HGETALL", self.keys.agent(a)) for a in ids))
        return [AgentState.from_hash(pairs(r)) for r in replies if r]

    def heartbeat(
        self, agent_id: str, source: str = "desktop", ttl: float = 30.0, device: str = ""
    ) -> Op[bool]:
        """Renew a presence lease for ``ttl`` seconds. ``device`` (available / busy /
        offline) is the phone's state for the ``sip`` source. True if something changed."""
        if source not in PRESENCE_SOURCES:
            raise InvalidInput(f"source must be one of {', '.join(PRESENCE_SOURCES)}")
        if source == "sip" and device not in ("available", "busy", "offline"):
            raise InvalidInput("a sip heartbeat needs device=available|busy|offline")
        if not 0 < ttl <= 3600:
            raise InvalidInput("ttl must be in (0, 3600] seconds")
        reply = yield Script(
            "heartbeat",
            (
                _check_id("agent id", agent_id),
                source,
                int(ttl * 1000),
                device if source != "desktop" else "",
            ),
        )
        if int(reply[0]) != 1:
            raise NotFound(f"agent {agent_id!r} is not configured")
        return bool(int(reply[1]))

    def set_status(self, agent_id: str, status: str, reason: str = "") -> Op[Result]:
        try:
            st = AgentStatus(status)
        except ValueError:
            raise InvalidInput(
                f"status must be available, away or offline, got {status!r}"
            ) from None
        return _result(
            (yield Script("set_status", (_check_id("agent id", agent_id), st.value, reason[:200])))
        )

    def agent_offers(self, agent_id: str) -> Op[list[Offer]]:
        ids = sorted((yield cmd("SMEMBERS", self.keys.agent_offers(agent_id))))
        if not ids:
            return []
        replies = yield Batch(tuple(cmd("HGETALL", self.keys.offer(o)) for o in ids))
        return [Offer.from_hash(pairs(r)) for r in replies if r]

    def agent_contacts(self, agent_id: str) -> Op[list[RoutingRequest]]:
        ids = sorted((yield cmd("SMEMBERS", self.keys.agent_contacts(agent_id))))
        return (yield from self._requests(ids))

    # --- routing requests ------------------------------------------------------

    def submit(
        self,
        channel: str,
        service: str,
        user_id: str,
        *,
        customer: Mapping[str, Any] | None = None,
        priority: int = 0,
        pbx: str = "",
        call_id: str = "",
        callback_number: str = "",
        request_id: str = "",
        force_queue: str = "",
        force_agent: str = "",
    ) -> Op[Submitted]:
        """File a routing request in the user's open session for ``service`` (or a new one).

        Idempotent on ``request_id``: re-submitting an existing id returns the first result.
        """
        ch = _channel(channel)
        rid = _check_id("request id", request_id) if request_id else new_id()
        customer_json = json.dumps(dict(customer or {}), sort_keys=True, default=str)
        if len(customer_json) > 8192:
            raise InvalidInput("customer attributes are limited to 8 KiB of JSON")
        if not -100 <= int(priority) <= 100:
            raise InvalidInput("priority must be within -100..100")
        if ch is not Channel.CHAT and callback_number and not callback_number.lstrip("+").isdigit():
            raise InvalidInput(
                f"callback number must be digits (optionally +), got {callback_number!r}"
            )
        reply = yield Script(
            "submit",
            (
                rid,
                new_id(),
                ch.value,
                _check_id("service", service),
                _check_id("user id", user_id),
                customer_json,
                int(priority),
                pbx,
                call_id,
                callback_number,
                force_queue,
                force_agent,
            ),
        )
        if int(reply[0]) == 1:
            return Submitted(rid, str(reply[1]), bool(int(reply[2])))
        return Submitted(rid, str(reply[2]), True)

    def cancel(self, request_id: str, reason: str = "abandoned") -> Op[Result]:
        """The customer gave up (hung up, closed the chat) before being served."""
        return _result(
            (yield Script("cancel", (_check_id("request id", request_id), reason[:200])))
        )

    def request(self, request_id: str) -> Op[RoutingRequest | None]:
        h = pairs((yield cmd("HGETALL", self.keys.request(request_id))))
        return RoutingRequest.from_hash(h) if h else None

    def offer(self, offer_id: str) -> Op[Offer | None]:
        h = pairs((yield cmd("HGETALL", self.keys.offer(offer_id))))
        return Offer.from_hash(h) if h else None

    def accept(self, offer_id: str, agent_id: str = "") -> Op[Result]:
        return _result(
            (yield Script("accept", (_check_id("offer id", offer_id), agent_id, STATS_WINDOW_MS)))
        )

    def reject(self, offer_id: str, agent_id: str = "", reason: str = "rejected") -> Op[Result]:
        """The agent declines; the request is not offered to them again for a while."""
        return _result(
            (
                yield Script(
                    "release",
                    (_check_id("offer id", offer_id), agent_id, "rejected", reason[:200], 0),
                )
            )
        )

    def offer_failed(self, offer_id: str, reason: str = "no_answer") -> Op[Result]:
        """The PBX could not connect the agent (no_answer / busy / unavailable). A no-answer
        counts as a missed offer (repeated misses set the agent away)."""
        if reason not in ("no_answer", "busy", "unavailable"):
            raise InvalidInput("reason must be no_answer, busy or unavailable")
        missed = 1 if reason == "no_answer" else 0
        return _result(
            (
                yield Script(
                    "release", (_check_id("offer id", offer_id), "", "failed", reason, missed)
                )
            )
        )

    def timeout_offer(self, offer_id: str) -> Op[Result]:
        """The offer's time ran out (the workers call this from the offer timer)."""
        return _result((yield Script("release", (offer_id, "", "timeout", "no answer in time", 1))))

    def complete(self, request_id: str, disposition: str = "") -> Op[Result]:
        """A contact is over: the agent's slot is freed and wrap-up starts."""
        return _result(
            (yield Script("complete", (_check_id("request id", request_id), disposition[:200])))
        )

    def transfer(
        self, request_id: str, *, queue: str = "", agent_id: str = "", by: str = ""
    ) -> Op[Result]:
        """Move a contact (or waiting request) to ``queue`` or to ``agent_id`` in the same session.
        The result's ``request_id`` is the request now routing."""
        if bool(queue) == bool(agent_id):
            raise InvalidInput("transfer to exactly one of queue or agent_id")
        if queue:
            _check_id("queue", queue)
        if agent_id:
            _check_id("agent id", agent_id)
        return _result(
            (
                yield Script(
                    "transfer", (_check_id("request id", request_id), new_id(), queue, agent_id, by)
                )
            )
        )

    # --- sessions ------------------------------------------------------------------

    def session(self, session_id: str) -> Op[Session | None]:
        h = pairs((yield cmd("HGETALL", self.keys.session(session_id))))
        return Session.from_hash(h) if h else None

    def open_session(self, user_id: str, service: str) -> Op[Session | None]:
        sid = yield cmd("GET", self.keys.session_open(user_id, service))
        if not sid:
            return None
        return (yield from self.session(sid))

    def history(self, user_id: str, limit: int = 20) -> Op[list[Session]]:
        """The user's sessions, newest first (open and closed)."""
        ids = yield cmd("ZREVRANGE", self.keys.user_sessions(user_id), 0, max(0, limit - 1))
        if not ids:
            return []
        replies = yield Batch(tuple(cmd("HGETALL", self.keys.session(s)) for s in ids))
        return [Session.from_hash(pairs(r)) for r in replies if r]

    def session_requests(self, session_id: str) -> Op[list[RoutingRequest]]:
        ids = sorted((yield cmd("SMEMBERS", self.keys.session_requests(session_id))))
        return (yield from self._requests(ids))

    def append(self, session_id: str, entry: Mapping[str, Any], cmid: str = "") -> Op[Appended]:
        """Add ``entry`` (a dict with a ``type``) to the session transcript, once per ``cmid``."""
        etype = entry.get("type")
        if not isinstance(etype, str) or not etype or len(etype) > 64:
            raise InvalidInput("a transcript entry needs a 'type' string of at most 64 characters")
        data = json.dumps(
            {k: v for k, v in entry.items() if k not in ("type", "id", "at")},
            sort_keys=True,
            default=str,
        )
        if len(data) > MAX_ENTRY_BYTES:
            raise InvalidInput(f"a transcript entry is limited to {MAX_ENTRY_BYTES} bytes")
        if len(cmid) > MAX_ID:
            raise InvalidInput(f"client message ids are limited to {MAX_ID} characters")
        reply = yield Script("append", (_check_id("session id", session_id), etype, data, cmid))
        if int(reply[0]) != 1:
            raise NotFound(f"session {session_id!r} does not exist")
        return Appended(str(reply[1]), bool(int(reply[2])), str(reply[3]))

    def transcript(
        self, session_id: str, after: str = "0-0", count: int = 1000
    ) -> Op[list[dict[str, Any]]]:
        """Entries after stream id ``after`` (exclusive), oldest first."""
        start = "(" + after if after not in ("0", "0-0", "-") else "-"
        rows = yield cmd("XRANGE", self.keys.transcript(session_id), start, "+", "COUNT", count)
        return [transcript_entry(i, pairs(f) if isinstance(f, list) else f) for i, f in rows]

    def close_session(self, session_id: str, disposition: str = "", by: str = "") -> Op[Result]:
        return _result(
            (
                yield Script(
                    "close_session", (_check_id("session id", session_id), disposition[:200], by, 0)
                )
            )
        )

    def close_if_idle(self, session_id: str, idle_since_ms: int) -> Op[Result]:
        return _result(
            (yield Script("close_session", (session_id, "idle", "router", idle_since_ms)))
        )

    def click_to_call(self, session_id: str, agent_id: str, number: str) -> Op[str]:
        """Ask the agent's PBX for an outbound VoIP call: agent's phone first, then ``number``.
        Returns the command id on the PBX's command stream."""
        if not number or not number.lstrip("+").isdigit() or len(number) > 32:
            raise InvalidInput(f"the number must be digits (optionally +), got {number!r}")
        agent = yield from self.agent(agent_id)
        if agent is None:
            raise NotFound(f"agent {agent_id!r} is not configured")
        if not agent.profile.pbx:
            raise InvalidInput(
                f"agent {agent_id!r} has no PBX in their profile: set pbx/endpoint first"
            )
        if (yield from self.session(session_id)) is None:
            raise NotFound(f"session {session_id!r} does not exist")
        call = new_id()
        replies = yield Batch(
            (
                cmd(
                    "XADD",
                    self.keys.pbx_commands(agent.profile.pbx),
                    "MAXLEN",
                    "~",
                    100000,
                    "*",
                    "type",
                    "click_to_call",
                    "at",
                    self.clock(),
                    "call",
                    call,
                    "session",
                    session_id,
                    "agent",
                    agent_id,
                    "endpoint",
                    agent.profile.endpoint,
                    "number",
                    number,
                ),
                Script(
                    "append",
                    (
                        session_id,
                        "call.requested",
                        json.dumps(
                            {
                                "call": call,
                                "agent": agent_id,
                                "number": number,
                                "direction": "outbound",
                                "channel": "voip",
                            }
                        ),
                        "",
                    ),
                ),
            )
        )
        return str(replies[0])

    # --- strategy, traces, stats -----------------------------------------------------

    def load_strategy(self, text: str) -> Op[int]:
        """Validate and install a strategy (raises StrategyError). Returns its version; the
        workers re-apply it to requests already waiting."""
        strategy = parse_strategy(text)
        version = yield Script(
            "load_strategy", (text, *strategy_settings(strategy, self.history_ttl_s))
        )
        return int(version)

    def strategy(self) -> Op[Strategy]:
        """The current strategy (the built-in one if none was ever loaded)."""
        h = pairs((yield cmd("HGETALL", self.keys.strategy())))
        if not h.get("yaml"):
            return parse_strategy(DEFAULT_STRATEGY, 0)
        return parse_strategy(h["yaml"], int(h.get("version", 0)))

    def ensure_strategy(self) -> Op[int]:
        """Install the built-in strategy if none was ever loaded; returns the version."""
        version = yield cmd("HGET", self.keys.strategy(), "version")
        if version:
            return int(version)
        return (yield from self.load_strategy(DEFAULT_STRATEGY))

    def explain(self, request_id: str) -> Op[list[dict[str, Any]]]:
        """Every routing decision taken for the request, oldest first."""
        rows = yield cmd("LRANGE", self.keys.trace(request_id), 0, -1)
        return [json.loads(r) for r in rows]

    def queue_stats(self) -> Op[list[QueueStats]]:
        """Waiting, longest wait, estimated wait and service level per queue and channel."""
        strategy = yield from self.strategy()
        now = self.clock()
        known = set((yield cmd("SMEMBERS", self.keys.queues()))) | set(strategy.queue_names)
        combos = [(q, ch) for q in sorted(known) for ch in CHANNELS]
        replies = yield Batch(
            tuple(
                step
                for q, ch in combos
                for step in (
                    cmd("ZCARD", self.keys.queue(q) + ":" + ch),
                    cmd("ZRANGE", self.keys.queue(q) + ":" + ch, 0, 199),
                    cmd(
                        "ZRANGEBYSCORE",
                        self.keys.stats(q, ch),
                        now - STATS_WINDOW_MS,
                        "+inf",
                        "WITHSCORES",
                    ),
                )
            )
        )
        agents = yield from self.agents()
        out = []
        for i, (q, ch) in enumerate(combos):
            waiting, head, answered = replies[3 * i : 3 * i + 3]
            waiting = int(waiting)
            if not waiting and not answered and q not in strategy.queue_names:
                continue
            created: list[int] = []
            if head:
                rows = yield Batch(
                    tuple(cmd("HGET", self.keys.request(r), "created") for r in head)
                )
                created = [int(c) for c in rows if c]
            rows = (
                answered
                if answered and isinstance(answered[0], list | tuple)
                else list(zip(answered[0::2], answered[1::2], strict=True))
            )
            times = [int(float(score)) for _m, score in rows]
            waits = [int(m.rsplit(":", 1)[1]) for m, _s in rows]
            skills = strategy.queue(q).skills
            free = sum(
                1
                for a in agents
                if set(skills) <= a.profile.skills.keys()
                and a.unavailable_reason(Channel(ch), now) is None
            )
            out.append(
                QueueStats(
                    queue=q,
                    channel=ch,
                    waiting=waiting,
                    longest_wait_s=max(((now - c) / 1000 for c in created), default=0.0),
                    estimated_wait_s=estimate_wait(waiting, times, now, STATS_WINDOW_MS, free),
                    service_level=service_level(waits, strategy.queue(q).service_level),
                    answered=len(times),
                    free_agents=free,
                )
            )
        return out

    def read_events(
        self, last_id: str = "$", block_ms: int | None = 1000, count: int = 500
    ) -> Op[list[Event]]:
        """Events after ``last_id`` (``$`` = only new ones), waiting up to ``block_ms``."""
        args: list[Any] = ["XREAD", "COUNT", count]
        if block_ms is not None:
            args += ["BLOCK", block_ms]
        reply = yield cmd(*args, "STREAMS", self.keys.events(), last_id)
        if not reply:
            return []
        rows = reply[0][1] if isinstance(reply, list) else next(iter(reply.values()))[0]
        return [
            Event(i, f.get("type", ""), f)
            for i, f in ((i, pairs(f) if isinstance(f, list) else f) for i, f in rows)
        ]

    def _requests(self, ids: list[str]) -> Op[list[RoutingRequest]]:
        if not ids:
            return []
        replies = yield Batch(tuple(cmd("HGETALL", self.keys.request(r)) for r in ids))
        return [RoutingRequest.from_hash(pairs(r)) for r in replies if r]


def _one(step: Step) -> Op[Any]:
    return (yield step)


def _bind(
    redis_client: Any, domain: str, clock: Callable[[], int]
) -> tuple[Keys, RouterOps, dict[str, Any]]:
    """Keys, operations and registered scripts shared by both clients."""
    if not redis_client.connection_pool.connection_kwargs.get("decode_responses"):
        raise InvalidInput("the Redis client must be created with decode_responses=True")
    keys = Keys(domain)
    registered = {
        name: redis_client.register_script(scripts.source(name)) for name in scripts.NAMES
    }
    return keys, RouterOps(keys, clock), registered


def _confirmer(durability: durable.Durability | None, keys: Keys) -> durable.Confirmer | None:
    return durable.Confirmer(durability, keys.acks()) if durability is not None else None


def _unavailable(e: redis.RedisError) -> RouterUnavailable:
    """An unreachable Redis or a failover under way, as the router says it."""
    return RouterUnavailable(
        f"Redis unavailable ({e}); is redis-server running at the configured URL, or is a "
        "failover under way? Retry in a moment"
    )


def _step_args(keys: Keys, clock: Callable[[], int], step: Script) -> list[Any]:
    return [keys.prefix, clock(), *step.args]


class _SyncOp(Generic[P, T]):
    """Turns a RouterOps generator method into a RouterClient method."""

    def __init__(self, op: Callable[Concatenate[RouterOps, P], Op[T]]) -> None:
        self.op = op
        self.__doc__ = op.__doc__

    def __get__(self, obj: RouterClient | None, owner: type) -> Callable[P, T]:
        op = self.op

        def call(*args: P.args, **kwargs: P.kwargs) -> T:
            assert obj is not None
            return obj.run(op(obj.ops, *args, **kwargs))

        call.__doc__ = op.__doc__
        return call


class _AsyncOp(Generic[P, T]):
    """Turns a RouterOps generator method into an AsyncRouterClient coroutine method."""

    def __init__(self, op: Callable[Concatenate[RouterOps, P], Op[T]]) -> None:
        self.op = op
        self.__doc__ = op.__doc__

    def __get__(self, obj: AsyncRouterClient | None, owner: type) -> Callable[P, Awaitable[T]]:
        op = self.op

        async def call(*args: P.args, **kwargs: P.kwargs) -> T:
            assert obj is not None
            return await obj.run(op(obj.ops, *args, **kwargs))

        call.__doc__ = op.__doc__
        return call


class RouterClient:
    """Synchronous router client (redis-py). Safe to share between threads."""

    def __init__(
        self,
        redis_client: redis.Redis,
        domain: str = "default",
        clock: Callable[[], int] = now_ms,
        durability: durable.Durability | None = None,
    ) -> None:
        self.redis = redis_client
        self.keys, self.ops, self._scripts = _bind(redis_client, domain, clock)
        self.confirmer = _confirmer(durability, self.keys)

    @classmethod
    def from_url(cls, url: str, domain: str = "default", **kwargs: Any) -> RouterClient:
        """``url``: see :mod:`router.connect` (one Redis or a Sentinel set)."""
        kwargs.setdefault("durability", connect.durability_from_url(url))
        return cls(connect.redis_from_url(url), domain, **kwargs)

    def run(self, op: Op[T]) -> T:
        try:
            return ops.run_sync(op, self._execute)
        except redis.RedisError as e:
            if not connect.is_failover_error(e):
                raise
            raise _unavailable(e) from e

    def execute(self, step: Step) -> Any:
        """Run one script/command/batch directly (the allocation workers use this)."""
        return self.run(_one(step))

    def _execute(self, step: Step, pipe: Any = None) -> Any:
        if self.confirmer is not None and pipe is None and self.confirmer.wants(step):
            return durable.execute_sync(self, self.confirmer, step)
        target = pipe if pipe is not None else self.redis
        if isinstance(step, Script):
            return self._scripts[step.name](
                keys=[], args=_step_args(self.keys, self.ops.clock, step), client=target
            )
        if isinstance(step, ops.Command):
            return target.execute_command(*step.args)
        with self.redis.pipeline(transaction=False) as p:
            for item in step.items:
                if isinstance(item, Script):
                    # EVALSHA straight into the pipeline: redis-py would otherwise ask
                    # SCRIPT EXISTS for the pipeline's scripts on every execute (one more
                    # round trip per batch).
                    p.evalsha(self._scripts[item.name].sha, 0, *self._args(item))
                else:
                    p.execute_command(*item.args)
            replies = p.execute(raise_on_error=False)
        return self._finish_batch(step, replies)

    def _args(self, step: Script) -> list[Any]:
        return _step_args(self.keys, self.ops.clock, step)

    def _finish_batch(self, batch: Batch, replies: list[Any]) -> list[Any]:
        """Scripts Redis forgot (restarted, SCRIPT FLUSH) are loaded and run again; any
        other error is raised, as redis-py would."""
        for i, reply in enumerate(replies):
            if isinstance(reply, redis.exceptions.NoScriptError):
                item = batch.items[i]
                assert isinstance(item, Script)
                replies[i] = self._scripts[item.name](keys=[], args=self._args(item))
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return replies

    def close(self) -> None:
        self.redis.close()

    def events(self, last_id: str = "$", block_ms: int = 1000, count: int = 500) -> Iterator[Event]:
        """Follow the events stream forever from ``last_id``."""
        while True:
            batch = self.read_events(last_id, block_ms, count)
            for event in batch:
                last_id = event.id
                yield event

    upsert_agent = _SyncOp(RouterOps.upsert_agent)
    remove_agent = _SyncOp(RouterOps.remove_agent)
    agent = _SyncOp(RouterOps.agent)
    agents = _SyncOp(RouterOps.agents)
    heartbeat = _SyncOp(RouterOps.heartbeat)
    set_status = _SyncOp(RouterOps.set_status)
    agent_offers = _SyncOp(RouterOps.agent_offers)
    agent_contacts = _SyncOp(RouterOps.agent_contacts)
    submit = _SyncOp(RouterOps.submit)
    cancel = _SyncOp(RouterOps.cancel)
    request = _SyncOp(RouterOps.request)
    offer = _SyncOp(RouterOps.offer)
    accept = _SyncOp(RouterOps.accept)
    reject = _SyncOp(RouterOps.reject)
    offer_failed = _SyncOp(RouterOps.offer_failed)
    timeout_offer = _SyncOp(RouterOps.timeout_offer)
    complete = _SyncOp(RouterOps.complete)
    transfer = _SyncOp(RouterOps.transfer)
    session = _SyncOp(RouterOps.session)
    open_session = _SyncOp(RouterOps.open_session)
    history = _SyncOp(RouterOps.history)
    session_requests = _SyncOp(RouterOps.session_requests)
    append = _SyncOp(RouterOps.append)
    transcript = _SyncOp(RouterOps.transcript)
    close_session = _SyncOp(RouterOps.close_session)
    close_if_idle = _SyncOp(RouterOps.close_if_idle)
    click_to_call = _SyncOp(RouterOps.click_to_call)
    load_strategy = _SyncOp(RouterOps.load_strategy)
    strategy = _SyncOp(RouterOps.strategy)
    ensure_strategy = _SyncOp(RouterOps.ensure_strategy)
    explain = _SyncOp(RouterOps.explain)
    queue_stats = _SyncOp(RouterOps.queue_stats)
    read_events = _SyncOp(RouterOps.read_events)


class AsyncRouterClient:
    """The same API for asyncio (redis.asyncio); every method is a coroutine."""

    def __init__(
        self,
        redis_client: redis.asyncio.Redis,
        domain: str = "default",
        clock: Callable[[], int] = now_ms,
        durability: durable.Durability | None = None,
    ) -> None:
        self.redis = redis_client
        self.keys, self.ops, self._scripts = _bind(redis_client, domain, clock)
        self.confirmer = _confirmer(durability, self.keys)

    @classmethod
    def from_url(cls, url: str, domain: str = "default", **kwargs: Any) -> AsyncRouterClient:
        """``url``: see :mod:`router.connect` (one Redis or a Sentinel set)."""
        kwargs.setdefault("durability", connect.durability_from_url(url))
        return cls(connect.redis_from_url(url, asyncio=True), domain, **kwargs)

    async def run(self, op: Op[T]) -> T:
        try:
            step = next(op)
            while True:
                step = op.send(await self._execute(step))
        except StopIteration as done:
            return done.value
        except redis.RedisError as e:
            if not connect.is_failover_error(e):
                raise
            raise _unavailable(e) from e

    async def _execute(self, step: Step) -> Any:
        if self.confirmer is not None and self.confirmer.wants(step):
            return await durable.execute_async(self, self.confirmer, step)
        if isinstance(step, Script):
            return await self._scripts[step.name](
                keys=[], args=_step_args(self.keys, self.ops.clock, step)
            )
        if isinstance(step, ops.Command):
            return await self.redis.execute_command(*step.args)
        async with self.redis.pipeline(transaction=False) as p:
            for item in step.items:
                if isinstance(item, Script):
                    # EVALSHA straight into the pipeline (no SCRIPT EXISTS round trip)
                    p.evalsha(self._scripts[item.name].sha, 0, *self._args(item))
                else:
                    p.execute_command(*item.args)
            replies = await p.execute(raise_on_error=False)
        for i, reply in enumerate(replies):  # scripts Redis forgot: load and run again
            if isinstance(reply, redis.exceptions.NoScriptError):
                item = step.items[i]
                assert isinstance(item, Script)
                replies[i] = await self._scripts[item.name](keys=[], args=self._args(item))
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return replies

    def _args(self, step: Script) -> list[Any]:
        return _step_args(self.keys, self.ops.clock, step)

    async def close(self) -> None:
        await self.redis.aclose()

    async def events(
        self, last_id: str = "$", block_ms: int = 1000, count: int = 500
    ) -> AsyncIterator[Event]:
        while True:
            for event in await self.read_events(last_id, block_ms, count):
                last_id = event.id
                yield event

    upsert_agent = _AsyncOp(RouterOps.upsert_agent)
    remove_agent = _AsyncOp(RouterOps.remove_agent)
    agent = _AsyncOp(RouterOps.agent)
    agents = _AsyncOp(RouterOps.agents)
    heartbeat = _AsyncOp(RouterOps.heartbeat)
    set_status = _AsyncOp(RouterOps.set_status)
    agent_offers = _AsyncOp(RouterOps.agent_offers)
    agent_contacts = _AsyncOp(RouterOps.agent_contacts)
    submit = _AsyncOp(RouterOps.submit)
    cancel = _AsyncOp(RouterOps.cancel)
    request = _AsyncOp(RouterOps.request)
    offer = _AsyncOp(RouterOps.offer)
    accept = _AsyncOp(RouterOps.accept)
    reject = _AsyncOp(RouterOps.reject)
    offer_failed = _AsyncOp(RouterOps.offer_failed)
    timeout_offer = _AsyncOp(RouterOps.timeout_offer)
    complete = _AsyncOp(RouterOps.complete)
    transfer = _AsyncOp(RouterOps.transfer)
    session = _AsyncOp(RouterOps.session)
    open_session = _AsyncOp(RouterOps.open_session)
    history = _AsyncOp(RouterOps.history)
    session_requests = _AsyncOp(RouterOps.session_requests)
    append = _AsyncOp(RouterOps.append)
    transcript = _AsyncOp(RouterOps.transcript)
    close_session = _AsyncOp(RouterOps.close_session)
    close_if_idle = _AsyncOp(RouterOps.close_if_idle)
    click_to_call = _AsyncOp(RouterOps.click_to_call)
    load_strategy = _AsyncOp(RouterOps.load_strategy)
    strategy = _AsyncOp(RouterOps.strategy)
    ensure_strategy = _AsyncOp(RouterOps.ensure_strategy)
    explain = _AsyncOp(RouterOps.explain)
    queue_stats = _AsyncOp(RouterOps.queue_stats)
    read_events = _AsyncOp(RouterOps.read_events)
