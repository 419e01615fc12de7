"""The allocation worker: a stateless process that carries out routing decisions.

Any number of workers read the ``work`` stream through the consumer group ``routers``:
new and returning requests, agents who became free, offer timeouts, strategy reloads.
A worker that dies leaves its items pending; another one claims them after
``claim_idle_ms``. Every item is handled idempotently (the scripts check states), so
at-least-once delivery is safe.

Decisions are pure (:mod:`router.allocation`) over the worker's agent view, which follows
the ``events`` stream; carrying them out goes through the atomic scripts, where a lost
race is normal and the next candidate is tried.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import redis

from router.allocation import (
    Decision,
    Match,
    Waiting,
    choose_request,
    decide,
    queue_score,
    waiting_line,
)
from router.candidates import AgentView
from router.client import TRACE_TTL_S, RouterClient, new_id
from router.connect import is_failover_error
from router.errors import RouterUnavailable
from router.keys import WORK_GROUP
from router.model import AgentState, AgentStatus, Channel, RequestState, RoutingRequest, as_int
from router.ops import Batch, Script, cmd, pairs
from router.strategy import CHANNELS, Plan, Strategy, parse_strategy

log = logging.getLogger("implus.router")

AGENT_SCAN = 20
"""Waiting requests looked at per queue when an agent becomes free."""
REDECIDE_ROUNDS = 3
"""Fresh decisions for a request that lost every candidate to other workers."""
SWEEP_REQUESTS = 1000
"""Waiting requests the periodic sweep decides again, at most, per round."""


@dataclass(frozen=True)
class WorkerSettings:
    batch: int = 256
    """Work items read per round."""
    block_ms: int = 20
    """How long a round waits for work; bounds how stale the agent view can get when idle."""
    timer_interval_ms: int = 50
    reaper_interval_ms: int = 1000
    claim_idle_ms: int = 30_000
    """Items pending this long with a silent worker are taken over."""
    session_idle_s: float = 3600.0
    """Open sessions with no activity and nothing in progress close after this long."""
    housekeeping_interval_s: float = 10.0
    sweep_interval_s: float = 1.0
    """How often free agents and waiting requests that never met are matched (the safety
    net behind the event-driven matching; 0 turns it off)."""


@dataclass
class WorkerStats:
    items: int = 0
    offers: int = 0
    lost_races: int = 0
    waits: int = 0
    overflows: int = 0
    timeouts: int = 0
    sweeps: int = 0
    """Sweep rounds that found requests waiting beside free agents."""


class Worker:
    """One allocation worker. ``run()`` loops until ``stop()``; ``step()`` is one round."""

    def __init__(
        self, client: RouterClient, name: str | None = None, settings: WorkerSettings | None = None
    ) -> None:
        self.client = client
        self.keys = client.keys
        self.redis: Any = client.redis  # redis-py types do not know decode_responses
        self.name = name or f"{socket.gethostname()}-{os.getpid()}"
        self.settings = settings or WorkerSettings()
        self.clock: Callable[[], int] = client.ops.clock
        self.view = AgentView()
        self.strategy: Strategy = parse_strategy("rules: []")
        self.stats = WorkerStats()
        self._feed_id = "0-0"
        self._stopping = False
        self._next: dict[str, float] = {}

    # --- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        """Create the consumer group if needed, load the strategy and the agent view."""
        self._join_group()
        self.client.ensure_strategy()
        self._load_strategy()
        last = self.redis.xrevrange(self.keys.agent_feed(), count=1)
        self._feed_id = last[0][0] if last else "0-0"
        for agent in self.client.agents():
            self.view.upsert(agent)
        log.info(
            "worker %s ready: %d agents, strategy v%d",
            self.name,
            len(self.view),
            self.strategy.version,
        )

    def _join_group(self) -> None:
        """Create the consumer group if needed and join it now, not at the first read: who is
        serving must be visible (XINFO CONSUMERS) even while there is no work."""
        try:
            self.redis.xgroup_create(self.keys.work(), WORK_GROUP, id="0", mkstream=True)
        except redis.ResponseError as e:
            if "BUSYGROUP" not in str(e):
                raise
        self.redis.xgroup_createconsumer(self.keys.work(), WORK_GROUP, self.name)

    def stop(self) -> None:
        self._stopping = True

    def run(self) -> None:
        self.start()
        outage = False
        while not self._stopping:
            try:
                if outage:
                    self.resync()
                    outage = False
                self.step()
            except redis.ResponseError as e:
                if "NOGROUP" in str(e):
                    # Redis came back without the group (restarted from an older snapshot,
                    # or a replica promoted before the group reached it): make it again.
                    log.warning("the work stream lost its consumer group (%s); creating it", e)
                    self._join_group()
                    continue
                if not is_failover_error(e):
                    raise
                outage = self._pause(e)
            except (redis.RedisError, RouterUnavailable) as e:
                outage = self._pause(e)
        # One line an operator (and the throughput benchmark) can read: how much of the
        # work was lost races or waits rather than offers.
        log.info(
            "worker %s stopped: %s",
            self.name,
            " ".join(f"{k}={v}" for k, v in dataclasses.asdict(self.stats).items()),
        )

    def _pause(self, e: Exception) -> bool:
        log.error("Redis unavailable (%s); retrying in 1 s", e)
        time.sleep(1)
        return True

    def resync(self) -> None:
        """After Redis was unavailable: what answers now may be a promoted replica or a
        restarted server, without the last changes the view saw; rebuild the view, the
        strategy and the group membership from it."""
        self.view = AgentView()
        self.strategy = parse_strategy("rules: []")
        self.start()

    def step(self, block_ms: int | None = None) -> int:
        """One round: sync the view, run due housekeeping, handle one batch of work."""
        self._sync_view()
        self._periodic()
        reply = self.redis.xreadgroup(
            WORK_GROUP,
            self.name,
            {self.keys.work(): ">"},
            count=self.settings.batch,
            block=self.settings.block_ms if block_ms is None else block_ms,
        )
        entries = reply[0][1] if reply else []
        if entries:
            self._sync_view()
            self._handle(entries)
        return len(entries)

    # --- the agent view ----------------------------------------------------------

    def _load_strategy(self) -> None:
        self.strategy = self.client.strategy()
        self.view.set_queues(
            {q: d.skills.keys() for q, d in self.strategy.definition.queues.items()}
        )
        self._warm_pools()

    def _warm_pools(self) -> None:
        """Build the ordered candidate pools the strategy's first steps use now, not on the
        first request (10,000 agents take a few hundred ms to sort: a cold-start stall)."""
        for rule in self.strategy.rules:
            plan = self.strategy.plan(rule, 0.0)
            for target in plan.targets:
                for channel in (Channel.VOICE, Channel.CHAT):
                    next(self.view.ready(target.queue, channel, plan.order, plan.order_skill), None)

    def _sync_view(self) -> set[str]:
        """Apply the agent feed to the view; returns agents that may have become free."""
        freed: set[str] = set()
        unknown: set[str] = set()
        while True:
            reply = self.redis.xread({self.keys.agent_feed(): self._feed_id}, count=5000)
            rows = reply[0][1] if reply else []
            for entry_id, fields in rows:
                self._feed_id = entry_id
                etype = fields.get("type")
                if etype == "agent.state":
                    old = self.view.get(fields["agent"])
                    if old is None:
                        unknown.add(fields["agent"])  # its profile event came before we started
                    elif as_int(fields.get("v")) > old.version:
                        self._apply(old, old.with_live(fields), freed)
                elif etype == "agent.profile":
                    state = AgentState.from_hash(
                        {k: v for k, v in fields.items() if k not in ("type", "agent")}
                    )
                    self._apply(self.view.get(state.id), state, freed)
                elif etype == "agent.removed":
                    self.view.remove(fields.get("agent", ""))
                elif (
                    etype == "strategy.loaded"
                    and int(fields.get("version", 0)) > self.strategy.version
                ):
                    self._load_strategy()
            if len(rows) < 5000:
                break
        if unknown:
            for h in self.client.execute(_batch_read(self.keys.agent, sorted(unknown))):
                if h:
                    state = AgentState.from_hash(pairs(h))
                    self._apply(None, state, freed)
        return freed

    def _apply(self, old: AgentState | None, new: AgentState, freed: set[str]) -> None:
        if self.view.upsert(new) and _more_free(old, new):
            freed.add(new.id)

    # --- work ------------------------------------------------------------------------

    def _handle(self, entries: list[tuple[str, dict[str, str]]]) -> None:
        requests: list[str] = []
        agents: list[str] = []
        timeouts: list[str] = []
        reroutes: list[int] = []
        for _entry_id, fields in entries:
            kind, item = fields.get("kind"), fields.get("id", "")
            if kind == "request":
                requests.append(item)
            elif kind == "agent":
                agents.append(item)
            elif kind == "offer_timeout":
                timeouts.append(item)
            elif kind == "reroute":
                reroutes.append(int(item or 0))
            else:
                log.warning("unknown work item %r ignored", fields)
        self.stats.items += len(entries)
        if reroutes:
            self._reroute(max(reroutes))
        if timeouts:
            self._offer_timeouts(list(dict.fromkeys(timeouts)))
        if requests:
            self._route_requests(list(dict.fromkeys(requests)))
        if agents:
            self._serve_agents(list(dict.fromkeys(agents)))
        self.redis.xack(self.keys.work(), WORK_GROUP, *[e[0] for e in entries])

    def _read_requests(self, ids: Iterable[str]) -> list[RoutingRequest]:
        ids = list(ids)
        if not ids:
            return []
        replies = self.client.execute(_batch_read(self.keys.request, ids))
        return [RoutingRequest.from_hash(pairs(h)) for h in replies if h]

    def _route_requests(self, ids: list[str]) -> None:
        now = self.clock()
        queued = [r for r in self._read_requests(ids) if r.state is RequestState.QUEUED]
        waiting = self._carry_out(self._decide_all(queued, now), now)
        if waiting and self._sync_view():
            # An agent became free while we decided: the agent-side scan may have run before
            # these requests were in their queues, so look at them once more (no lost wakeup).
            again = self._decide_all([d.request for d in waiting], now)
            self._carry_out([d for d in again if d.outcome == "offer"], now, enqueue=False)

    def _decide_all(self, requests: list[RoutingRequest], now: int) -> list[Decision]:
        """Decide one by one, counting each pick in the view so a batch does not overfill."""
        decisions = []
        for r in requests:
            d = decide(r, self.strategy, self.view, now)
            if d.outcome == "offer":
                self._optimistic(d.candidates[0], r.channel, now)
            decisions.append(d)
        return decisions

    def _carry_out(
        self, decisions: list[Decision], now: int, enqueue: bool = True
    ) -> list[Decision]:
        """Reserve for offers (pipelined), enqueue waits, overflow the rest. Returns waits.

        A request whose every candidate was taken meanwhile (another worker won the race)
        is decided again on the corrected view, up to REDECIDE_ROUNDS times, before it is
        left to wait: a free agent elsewhere must not sit idle while it waits.
        """
        offers = [d for d in decisions if d.outcome == "offer"]
        waits = [d for d in decisions if d.outcome == "wait"]
        overflows = [d for d in decisions if d.outcome == "overflow"]
        for round_ in range(REDECIDE_ROUNDS + 1):
            lost = self._reserve_all(offers, now)
            if not lost:
                break
            if round_ == REDECIDE_ROUNDS:
                for d in lost:
                    d.trace = {
                        **d.trace,
                        "outcome": "wait",
                        "why": "every candidate was taken meanwhile",
                    }
                waits += lost
                break
            self._sync_view()  # learn what the other workers took meanwhile
            again = self._decide_all([d.request for d in lost], now)
            offers = [d for d in again if d.outcome == "offer"]
            waits += [d for d in again if d.outcome == "wait"]
            overflows += [d for d in again if d.outcome == "overflow"]
        if not enqueue:
            waits = []
        post: list[Script] = [self._enqueue_step(d, now) for d in waits]
        for d in overflows:
            post.append(
                Script("overflow", (d.request.id, d.overflow_to, json.dumps(d.trace), TRACE_TTL_S))
            )
        if post:
            self.client.execute(Batch(tuple(post)))
        self.stats.waits += len(waits)
        self.stats.overflows += len(overflows)
        return waits

    def _reserve_all(self, offers: list[Decision], now: int) -> list[Decision]:
        """Reserve each offer's first candidate in one pipeline, the others one by one on a
        lost race. Returns the decisions none of whose candidates could be reserved."""
        if not offers:
            return []
        steps = [
            self._reserve_step(d.request, d.plan, d.candidates[0], d.trace, now) for d in offers
        ]
        replies = self.client.execute(Batch(tuple(steps)))
        lost = []
        for d, reply in zip(offers, replies, strict=True):
            if int(reply[0]) == 1:
                self.stats.offers += 1
                continue
            self._lost(d.candidates[0], reply)
            if str(reply[1]).startswith("request"):
                # the request itself moved on (cancelled, offered by another worker): the
                # agent's slot we counted in the view was never taken
                self._optimistic(d.candidates[0], d.request.channel, now, -1)
                continue
            if not self._try_rest(d, now):
                lost.append(d)
        return lost

    def _try_rest(self, d: Decision, now: int) -> bool:
        for agent_id in d.candidates[1:]:
            reply = self.client.execute(
                self._reserve_step(
                    d.request,
                    d.plan,
                    agent_id,
                    {
                        **d.trace,
                        "chosen": agent_id,
                        "why": f"{d.trace.get('chosen')} was taken: next candidate",
                    },
                    now,
                )
            )
            if int(reply[0]) == 1:
                self._optimistic(agent_id, d.request.channel, now)
                self.stats.offers += 1
                return True
            self._lost(agent_id, reply)
            if str(reply[1]).startswith("request"):
                return True  # the request itself moved on (cancelled, offered elsewhere)
        return False

    def _lost(self, agent_id: str, reply: list[Any]) -> None:
        self.stats.lost_races += 1
        if len(reply) > 2 and reply[2]:
            self.view.upsert(AgentState.from_hash(pairs(reply[2])))

    def _reserve_step(
        self,
        request: RoutingRequest,
        plan: Plan | None,
        agent_id: str,
        trace: dict[str, Any],
        now: int,
    ) -> Script:
        assert plan is not None
        deadline = now + int(plan.offer_timeout * 1000)
        return Script(
            "reserve",
            (
                request.id,
                agent_id,
                new_id(),
                deadline,
                json.dumps(list(plan.queues)),
                queue_score(request.created, plan.priority + request.priority),
                plan.rule,
                plan.step,
                self.strategy.version,
                json.dumps(trace),
                TRACE_TTL_S,
            ),
        )

    def _enqueue_step(self, d: Decision, now: int) -> Script:
        assert d.plan is not None
        return Script(
            "enqueue",
            (
                d.request.id,
                json.dumps(list(d.plan.queues)),
                d.score,
                d.plan.rule,
                d.plan.step,
                self.strategy.version,
                d.pinned,
                d.pinned_until,
                d.next_check,
                json.dumps(d.trace),
                TRACE_TTL_S,
            ),
        )

    def _optimistic(self, agent_id: str, channel: Channel, now: int, count: int = 1) -> None:
        """Count our own reservation in the view at once, before its event comes back
        (``count=-1`` takes back one that did not happen)."""
        agent = self.view.get(agent_id)
        if agent is None:
            return
        slot = channel.capacity_channel.value
        load = dict(agent.load)
        load[slot] = max(0, load.get(slot, 0) + count)
        self.view.upsert(
            dataclasses.replace(
                agent,
                load=load,
                busy=max(0, agent.busy + count),
                last_offer=now if count > 0 else agent.last_offer,
            )
        )

    def _serve_agents(self, ids: list[str]) -> None:
        """Agents who became free take the best waiting requests they can serve.

        The queue heads are read once for the whole batch of agents, so a burst of agents
        becoming free costs three round trips, not three per agent.
        """
        now = self.clock()
        replies = self.client.execute(_batch_read(self.keys.agent, ids))
        agents = []
        for h in replies:
            if h:
                state = AgentState.from_hash(pairs(h))
                self.view.upsert(state)
                if state.status is AgentStatus.AVAILABLE:
                    agents.append(state)
        if not agents:
            return
        queues = sorted(
            set(self.strategy.queue_names) | set(self.redis.smembers(self.keys.queues()))
        )
        zkeys = [self.keys.pinned(a.id) for a in agents]
        zkeys += [f"{self.keys.queue(q)}:{c}" for q in queues for c in CHANNELS]
        heads = self.client.execute(
            Batch(tuple(cmd("ZRANGE", k, 0, AGENT_SCAN - 1) for k in zkeys))
        )
        ids_waiting = list(dict.fromkeys(r for head in heads for r in head))
        if not ids_waiting:
            return
        line = waiting_line(self._read_requests(ids_waiting), self.strategy, now)
        for agent in agents:
            if not line:
                return
            self._serve_agent(agent, line, now)

    def _serve_agent(self, agent: AgentState, line: list[Waiting], now: int) -> None:
        while line:
            match = choose_request(agent, line, self.view, now, self.strategy.version)
            if match is None:
                return
            line[:] = [w for w in line if w.request.id != match.request.id]
            if not self._reserve_match(agent, match, now):
                current = self.view.get(agent.id)
                if current is None or current.unavailable_reason(match.request.channel, now):
                    return
            agent = self.view.get(agent.id) or agent

    def _reserve_match(self, agent: AgentState, match: Match, now: int) -> bool:
        reply = self.client.execute(
            self._reserve_step(match.request, match.plan, agent.id, match.trace, now)
        )
        if int(reply[0]) == 1:
            self.stats.offers += 1
            self._optimistic(agent.id, match.request.channel, now)
            return True
        self._lost(agent.id, reply)
        return False

    def _offer_timeouts(self, offer_ids: list[str]) -> None:
        replies = self.client.execute(
            Batch(
                tuple(
                    Script("release", (o, "", "timeout", "no answer in time", 1)) for o in offer_ids
                )
            )
        )
        self.stats.timeouts += sum(1 for r in replies if int(r[0]) == 1)

    def _reroute(self, version: int) -> None:
        """A new strategy: every waiting request is decided again under it."""
        if version > self.strategy.version:
            self._load_strategy()
        queues = sorted(
            set(self.strategy.queue_names) | set(self.redis.smembers(self.keys.queues()))
        )
        zkeys = [f"{self.keys.queue(q)}:{c}" for q in queues for c in CHANNELS]
        members = self.client.execute(Batch(tuple(cmd("ZRANGE", k, 0, -1) for k in zkeys)))
        ids = list(dict.fromkeys(r for m in members for r in m))
        log.info("strategy v%d: re-deciding %d waiting requests", self.strategy.version, len(ids))
        for start in range(0, len(ids), 500):
            self._route_requests(ids[start : start + 500])

    # --- housekeeping ------------------------------------------------------------------

    def _due(self, name: str, interval_s: float) -> bool:
        t = time.monotonic()
        if t >= self._next.get(name, 0.0):
            self._next[name] = t + interval_s
            return True
        return False

    def _periodic(self) -> None:
        s = self.settings
        if self._due("timers", s.timer_interval_ms / 1000):
            while self.client.execute(Script("claim_timers", (1000,))) == 1000:
                pass
        if self._due("reaper", s.reaper_interval_ms / 1000):
            for source in ("desktop", "sip"):
                self.client.execute(Script("expire_leases", (source, 500)))
        if self._due("claim", s.claim_idle_ms / 3000):
            self._claim_stale()
        if s.sweep_interval_s and self._due("sweep", s.sweep_interval_s):
            self._sweep()
        if self._due("housekeeping", s.housekeeping_interval_s):
            self._close_idle_sessions()
            self._trim_work()

    def _sweep(self) -> None:
        """Requests waiting in queues where the view shows a free agent are decided again.

        Matching is event-driven (a new request looks for an agent, an agent who becomes
        free looks for a request), so a request that lost all its races and an agent no
        event woke could otherwise stay apart. This round costs one pipelined ZCARD per
        queue and channel when nobody waits."""
        queues = sorted(
            set(self.strategy.queue_names) | set(self.redis.smembers(self.keys.queues()))
        )
        lines = [(q, Channel(c)) for q in queues for c in CHANNELS]
        counts = self.client.execute(
            Batch(tuple(cmd("ZCARD", f"{self.keys.queue(q)}:{c.value}") for q, c in lines))
        )
        now = self.clock()
        stuck = []
        for (queue, channel), waiting in zip(lines, counts, strict=True):
            if waiting and any(
                a.unavailable_reason(channel, now) is None
                for a in self.view.ready(queue, channel, "longest_idle")
            ):
                stuck.append(f"{self.keys.queue(queue)}:{channel.value}")
        if not stuck:
            return
        heads = self.client.execute(
            Batch(tuple(cmd("ZRANGE", k, 0, SWEEP_REQUESTS - 1) for k in stuck))
        )
        ids = list(dict.fromkeys(r for head in heads for r in head))[:SWEEP_REQUESTS]
        if ids:
            self.stats.sweeps += 1
            self._route_requests(ids)

    def _claim_stale(self) -> None:
        reply = self.redis.xautoclaim(
            self.keys.work(),
            WORK_GROUP,
            self.name,
            min_idle_time=self.settings.claim_idle_ms,
            start_id="0-0",
            count=500,
        )
        entries = [e for e in reply[1] if e and e[1]]
        if entries:
            log.warning("took over %d work items from a silent worker", len(entries))
            self._handle(entries)

    def _close_idle_sessions(self) -> None:
        cutoff = self.clock() - int(self.settings.session_idle_s * 1000)
        for sid in self.redis.zrangebyscore(
            self.keys.sessions_activity(), "-inf", cutoff, start=0, num=200
        ):
            self.client.close_if_idle(sid, cutoff)

    def _trim_work(self) -> None:
        """Drop work entries every worker has acknowledged (the stream would grow forever)."""
        groups = self.redis.xinfo_groups(self.keys.work())
        floor = None
        for g in groups:
            if g["name"] != WORK_GROUP:
                continue
            floor = g["last-delivered-id"]
            pending = self.redis.xpending(self.keys.work(), WORK_GROUP)
            if pending and pending.get("pending"):
                floor = min(floor, pending["min"], key=_stream_id)
        if floor and floor != "0-0":
            self.redis.xtrim(self.keys.work(), minid=floor, approximate=True)


def _stream_id(s: str) -> tuple[int, int]:
    a, _, b = s.partition("-")
    return int(a), int(b or 0)


def _more_free(old: AgentState | None, new: AgentState) -> bool:
    if new.status is not AgentStatus.AVAILABLE:
        return False
    if old is None or old.status is not AgentStatus.AVAILABLE:
        return True
    return new.busy < old.busy or new.wrapup_until < old.wrapup_until or new.devices != old.devices


def _batch_read(key: Callable[[str], str], ids: list[str]) -> Batch:
    return Batch(tuple(cmd("HGETALL", key(i)) for i in ids))
