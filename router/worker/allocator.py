"""Allocation: routing requests to agents and free agents to waiting requests.

Decisions are pure (:mod:`router.allocation`) over the worker's view; carrying them out
goes through the atomic scripts (``reserve_batch``, ``enqueue``, ``overflow``), where a lost race
is a normal outcome: the view is corrected and the next candidate is tried.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from router.allocation import (
    Decision,
    Match,
    Waiting,
    choose_request,
    waiting_line,
)
from router.allocation_runs import Runs
from router.client import TRACE_TTL_S, RouterClient
from router.client.requests import timeout_step
from router.direct import DirectPipeline
from router.model import AgentState, AgentStatus, Channel, RequestState, RoutingRequest
from router.ops import Batch, Script, cmd, pairs
from router.strategy import CHANNELS
from router.worker.reservations import (
    Pick,
    batch_of,
    decision_args,
    enqueue_step,
    reserve_steps,
)
from router.worker.settings import WorkerStats
from router.worker.view import WorkerView, batch_read

log = logging.getLogger("implus.router")

AGENT_SCAN = 20
"""Waiting requests looked at per queue when an agent becomes free."""
REDECIDE_ROUNDS = 3
"""Fresh decisions for a request that lost every candidate to other workers."""
REROUTE_BATCH = 500
"""Waiting requests decided again per round when a new strategy is loaded."""


@dataclass
class Routing:
    """A batch of requests decided (each pick counted in the view), to be carried out."""

    decisions: list[Decision]
    now: int
    replies: Future[list[list[Any]]] | None = None
    """The replies of the first-choice reservations, when ``Allocator.send`` sent them."""
    counted: dict[str, AgentState | None] = field(default_factory=dict)
    """Each picked agent's state in the view once the picks were counted in it."""
    args: list[tuple[Any, ...]] | None = None
    """The offers' ``reserve_batch`` arguments, when ``Allocator.prepare`` made them."""


class Allocator:
    """Carries out routing decisions for one worker."""

    def __init__(
        self,
        client: RouterClient,
        view: WorkerView,
        stats: WorkerStats,
        share: tuple[int, int] | None = None,
        direct: DirectPipeline | None = None,
    ) -> None:
        self.share = share
        """This worker's share of the agents (WorkerSettings.share)."""
        self.client = client
        self.keys = client.keys
        self.redis: Any = client.redis
        self.clock = client.ops.clock
        self.view = view
        self.stats = stats
        self._execute = direct.execute if direct is not None else client.execute
        """How the worker's own thread runs its steps: on the worker's held connection
        when it has one (:mod:`router.direct`); ``send``'s thread uses the client's pool."""
        self._executor: ThreadPoolExecutor | None = None
        """The one thread that waits for reservations ``send`` sent (created on first use)."""
        self._sent: Future[list[list[Any]]] | None = None
        """The replies of the last batch ``send`` sent."""

    def waiting_lines(self) -> list[tuple[str, Channel]]:
        """Every (queue, channel) requests may wait in: the strategy's queues and any queue
        that ever held requests (a strategy change may have dropped it)."""
        queues = set(self.view.strategy.queue_names) | set(self.redis.smembers(self.keys.queues()))
        return [(q, Channel(c)) for q in sorted(queues) for c in CHANNELS]

    # --- requests looking for agents ---------------------------------------------------

    def read_requests(self, ids: Iterable[str]) -> list[RoutingRequest]:
        ids = list(ids)
        if not ids:
            return []
        replies = self._execute(batch_read(self.keys.request, ids))
        return [RoutingRequest.from_hash(pairs(h)) for h in replies if h]

    def route_requests(
        self, ids: list[str], carried: Mapping[str, RoutingRequest] | None = None
    ) -> None:
        """Decide and carry out the queued requests among ``ids``; those in ``carried`` (by
        id, from their work items) are not read. The reservation checks the request's
        state, so a request cancelled meanwhile costs a refused reservation, not an offer."""
        self.finish(self.decide_requests(ids, carried))

    def decide_requests(
        self, ids: list[str], carried: Mapping[str, RoutingRequest] | None = None
    ) -> Routing:
        """The decisions for the queued requests among ``ids``, each counted in the view."""
        now = self.clock()
        if carried:
            read = {r.id: r for r in self.read_requests(i for i in ids if i not in carried)}
            requests = [r for r in (carried.get(i) or read.get(i) for i in ids) if r is not None]
        else:
            requests = self.read_requests(ids)
        queued = [r for r in requests if r.state is RequestState.QUEUED]
        routing = Routing(self._decide_all(queued, now), now)
        agents = self.view.agents
        routing.counted = {
            d.candidates[0]: agents.get(d.candidates[0])
            for d in routing.decisions
            if d.outcome == "offer"
        }
        return routing

    def recount(self, routing: Routing) -> None:
        """Count ``routing``'s picks in the view again where the feed (or a correction)
        replaced an agent's state since they were decided: what replaced it cannot know
        reservations not sent yet."""
        agents = self.view.agents
        stale = {a for a, state in routing.counted.items() if agents.get(a) is not state}
        if stale:
            for d in routing.decisions:
                if d.outcome == "offer" and d.candidates[0] in stale:
                    d.counted_run = self._count(d.request, d.candidates[0], routing.now)

    def prepare(self, routing: Routing) -> None:
        """Make the arguments of ``routing``'s first-choice reservations for :meth:`send`
        now (offer ids, traces as JSON...: ~5 us a decision), while Redis still runs the
        batch under way and the worker would wait for it: done after it, Redis waited."""
        now = routing.now
        routing.args = [
            decision_args(d.request, d.plan, d.candidates[0], d.trace, now)
            for d in routing.decisions
            if d.outcome == "offer"
        ]

    def send(self, routing: Routing) -> None:
        """Send the first-choice reservations of ``routing`` now, without waiting for their
        replies: Redis runs them while this worker decides its next batch. At most one
        batch is under way (the caller finishes it before sending the next)."""
        if routing.args is None:
            self.prepare(routing)
        assert routing.args is not None
        if not routing.args:
            return
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="implus-reserve")
        batch = batch_of(routing.args, self.view.strategy.version)
        routing.replies = self._sent = self._executor.submit(self.client.execute, batch)

    def behind_sent(self, chore: Callable[[], object]) -> Future[object] | None:
        """Run ``chore`` on the thread that waits for sent reservations, when some are
        under way: Redis runs their batch before it would answer the chore's call, so the
        worker would wait for them instead of deciding. None when none are under way (the
        caller runs it, at no such cost)."""
        if self._executor is None or not self.sending():
            return None
        return self._executor.submit(chore)

    def sending(self) -> bool:
        """Whether reservations ``send`` sent are still under way."""
        return self._sent is not None and not self._sent.done()

    def finish(self, routing: Routing) -> None:
        """Carry out ``routing``'s decisions (with the replies of the reservations ``send``
        sent, if it did): lost races decided again, waits enqueued, overflows done."""
        now = routing.now
        waiting = self._carry_out(routing.decisions, now, routing.replies)
        if waiting and self.view.sync():
            # An agent became free while we decided: the agent-side scan may have run before
            # these requests were in their queues, so look at them once more (no lost wakeup).
            again = self._decide_all([d.request for d in waiting], now)
            self._carry_out([d for d in again if d.outcome == "offer"], now, enqueue=False)

    def close(self) -> None:
        """Stop the thread that waits for sent reservations (after the last ``finish``)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    def _decide_all(self, requests: list[RoutingRequest], now: int) -> list[Decision]:
        """Decide as one by one, each pick counted in the view so a batch does not overfill
        (in runs: :mod:`router.allocation_runs`)."""
        view = self.view
        return Runs(view.strategy, view.agents, now, view.count, self.share).decide_all(requests)

    def _count(self, request: RoutingRequest, agent_id: str, now: int) -> int:
        """Count a pick in the view; returns the view's run it was counted in."""
        return self.view.optimistic(agent_id, request.channel, now)

    def _won(self, agent_id: str, reply: list[Any], run: int) -> None:
        """A reservation won, counted in the view in ``run``: its feed echo need not be
        applied (``WorkerView.expect_echo``)."""
        self.stats.offers += 1
        if len(reply) > 2 and run:
            self.view.expect_echo(reply[2], agent_id, run)

    def _carry_out(
        self,
        decisions: list[Decision],
        now: int,
        sent: Future[list[list[Any]]] | None = None,
        enqueue: bool = True,
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
            lost = self._reserve_all(offers, now, sent)
            sent = None
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
            self.view.sync()  # learn what the other workers took meanwhile
            again = self._decide_all([d.request for d in lost], now)
            offers = [d for d in again if d.outcome == "offer"]
            waits += [d for d in again if d.outcome == "wait"]
            overflows += [d for d in again if d.outcome == "overflow"]
        if not enqueue:
            waits = []
        post: list[Script] = [enqueue_step(d, self.view.strategy.version) for d in waits]
        for d in overflows:
            post.append(
                Script(
                    "overflow",
                    (
                        d.request.id,
                        d.overflow_to,
                        json.dumps(d.trace),
                        TRACE_TTL_S,
                        d.reason[:200],
                    ),
                )
            )
        if post:
            self._execute(Batch(tuple(post)))
        self.stats.waits += len(waits)
        self.stats.overflows += len(overflows)
        return waits

    def _reserve_all(
        self, offers: list[Decision], now: int, sent: Future[list[list[Any]]] | None = None
    ) -> list[Decision]:
        """Reserve each offer's first candidate in one pipeline (``sent``: already sent, its
        replies to come), the others one by one on a lost race. Returns the decisions none
        of whose candidates could be reserved."""
        if not offers:
            return []
        if sent is not None:
            replies = [reply for chunk in sent.result() for reply in chunk]
        else:
            replies = self._reserve_batch(
                [(d.request, d.plan, d.candidates[0], d.trace) for d in offers], now
            )
        lost = []
        for d, reply in zip(offers, replies, strict=True):
            if int(reply[0]) == 1:
                self._won(d.candidates[0], reply, d.counted_run)
                continue
            self._lost(reply)
            if str(reply[1]).startswith("request"):
                # the request itself moved on (cancelled, offered by another worker): the
                # agent's slot we counted in the view was never taken
                self.view.optimistic(d.candidates[0], d.request.channel, now, -1)
                continue
            if not self._try_rest(d, now):
                lost.append(d)
        return lost

    def _try_rest(self, d: Decision, now: int) -> bool:
        for agent_id in d.candidates[1:]:
            trace = {
                **d.trace,
                "chosen": agent_id,
                "why": f"{d.trace.get('chosen')} was taken: next candidate",
            }
            (reply,) = self._reserve_batch([(d.request, d.plan, agent_id, trace)], now)
            if int(reply[0]) == 1:
                self._won(agent_id, reply, self._count(d.request, agent_id, now))
                return True
            self._lost(reply)
            if str(reply[1]).startswith("request"):
                return True  # the request itself moved on (cancelled, offered elsewhere)
        return False

    def _lost(self, reply: list[Any]) -> None:
        self.stats.lost_races += 1
        self.view.correct(reply[2] if len(reply) > 2 else None)

    def _reserve_batch(self, picks: list[Pick], now: int) -> list[list[Any]]:
        """Reserve every (request, plan, agent, trace) pick: one ``reserve_batch`` script
        call per RESERVE_CHUNK picks, all in one pipeline; one reply per pick, in order."""
        replies = self._execute(reserve_steps(picks, self.view.strategy.version, now))
        return [reply for chunk in replies for reply in chunk]

    # --- agents looking for requests ---------------------------------------------------

    def serve_agents(self, ids: list[str], again: bool = True) -> None:
        """Agents who became free take the best waiting requests they can serve.

        The agents, the heads of their pinned lists and of the strategy's queues are read
        in one round trip for the whole batch of agents, and every match is reserved in
        one batch: a burst of agents becoming free costs three round trips (four when a
        queue the strategy dropped still holds requests), not three per agent and one per
        match. Agents that lost a request to another worker look once more at the fresh
        queue heads (``again``).
        """
        now = self.clock()
        n = len(ids)
        lines = [(q, c) for q in sorted(self.view.strategy.queue_names) for c in CHANNELS]
        steps = [cmd("HGETALL", self.keys.agent(i)) for i in ids]
        steps += [cmd("ZRANGE", self.keys.pinned(i), 0, AGENT_SCAN - 1) for i in ids]
        steps += [cmd("ZRANGE", self.keys.queue(q, c), 0, AGENT_SCAN - 1) for q, c in lines]
        steps.append(cmd("SMEMBERS", self.keys.queues()))
        replies = self._execute(Batch(tuple(steps)))
        if not any(replies[n:-1]) and set(replies[-1]) <= set(self.view.strategy.queue_names):
            # Nothing waits (no pinned request, every queue empty): no agent hash is parsed
            # (~35 us an agent); the agent feed brings the view what they say.
            return
        heads = []
        agents = []
        for h, pinned in zip(replies[:n], replies[n : 2 * n], strict=True):
            if h:
                state = AgentState.from_hash(pairs(h))
                self.view.agents.upsert(state)
                if state.status is AgentStatus.AVAILABLE:
                    agents.append(state)
                    heads.append(pinned)
        if not agents:
            return
        heads += replies[2 * n : -1]
        dropped = sorted(set(replies[-1]) - set(self.view.strategy.queue_names))
        if dropped:  # queues that once held requests and the strategy no longer names
            heads += self._execute(
                Batch(
                    tuple(
                        cmd("ZRANGE", self.keys.queue(q, c), 0, AGENT_SCAN - 1)
                        for q in dropped
                        for c in CHANNELS
                    )
                )
            )
        ids_waiting = list(dict.fromkeys(r for head in heads for r in head))
        if not ids_waiting:
            return
        line = waiting_line(self.read_requests(ids_waiting), self.view.strategy, now)
        picks: list[tuple[str, Match, int]] = []
        for agent in agents:
            if not line:
                break
            picks += self._matches(agent, line, now)
        if not picks:
            return
        replies = self._reserve_batch([(m.request, m.plan, a, m.trace) for a, m, _ in picks], now)
        retry = []
        for (agent_id, match, run), reply in zip(picks, replies, strict=True):
            if int(reply[0]) == 1:
                self._won(agent_id, reply, run)
                continue
            self._lost(reply)
            if str(reply[1]).startswith("request"):
                # another worker took the request: the slot we counted was never taken
                self.view.optimistic(agent_id, match.request.channel, now, -1)
                retry.append(agent_id)
        if retry and again:
            self.serve_agents(list(dict.fromkeys(retry)), again=False)

    def _matches(
        self, agent: AgentState, line: list[Waiting], now: int
    ) -> list[tuple[str, Match, int]]:
        """The requests of ``line`` the agent takes, best first, while it has room (each
        counted in the view at once: with the view's run it was counted in); they leave
        ``line``."""
        out = []
        version = self.view.strategy.version
        while line:
            match = choose_request(agent, line, self.view.agents, now, version)
            if match is None:
                break
            line[:] = [w for w in line if w.request.id != match.request.id]
            out.append((agent.id, match, self._count(match.request, agent.id, now)))
            agent = self.view.agents.get(agent.id) or agent
        return out

    # --- offers that timed out, strategy changes -------------------------------------

    def offer_timeouts(self, offer_ids: list[str]) -> None:
        replies = self._execute(Batch(tuple(timeout_step(o) for o in offer_ids)))
        self.stats.timeouts += sum(1 for r in replies if int(r[0]) == 1)

    def reroute(self, version: int) -> None:
        """A new strategy: every waiting request is decided again under it."""
        if version > self.view.strategy.version:
            self.view.load_strategy()
        zkeys = [self.keys.queue(q, c.value) for q, c in self.waiting_lines()]
        members = self._execute(Batch(tuple(cmd("ZRANGE", k, 0, -1) for k in zkeys)))
        ids = list(dict.fromkeys(r for m in members for r in m))
        log.info(
            "strategy v%d: re-deciding %d waiting requests", self.view.strategy.version, len(ids)
        )
        for start in range(0, len(ids), REROUTE_BATCH):
            self.route_requests(ids[start : start + REROUTE_BATCH])
