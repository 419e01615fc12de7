"""A batch of routing requests decided in runs: the decisions, traces and view counts of
:func:`router.allocation.decide` called one request after another (each pick counted in
the view before the next decision), without re-sorting the view at every pick. Pure.

Deciding one by one, each pick is counted in the agent view at once - a new agent state,
placed again in every candidate pool (a sorted list's remove and add per pool) - and the
next decision iterates the pools from their start again. A run reads the pools as they
were when it began, and keeps the agents it picked apart: their current states, and per
lane (a target's pool, for one channel) a heap of their current order keys. A lane's next
candidate is the better of the pool's next eligible agent not picked in the run (a cursor
that never goes back: the agents it passed are ineligible for the whole run, as ``now`` is
the batch's) and the heap's best. The view learns a run's picks once per agent, when the
run closes: one new state and one placement per agent, not per pick.

A request whose decision is not "the best eligible agent of its plan's targets" goes one
by one (:func:`decide`, after the run's picks are counted in the view): a known agent
still waited for, preferred agents, declined agents, a weighted draw, a worker share, an
overflow, no agent found, a scan past SCAN_LIMIT, or a lane where an agent picked in the
run sits ineligible (its place in the trace's ``considered`` would need the old way).
"""

from __future__ import annotations

import heapq
from bisect import bisect_left
from collections.abc import Callable, Iterator
from typing import Any

from router.allocation import (
    SCAN_LIMIT,
    TRACE_CONSIDERED,
    Decision,
    decide,
    earliest_of,
    known_since,
    pick_reason,
    plan_for,
    refusal_of,
    target_json,
)
from router.candidates import AgentView, slot_ready
from router.model import AgentState, Channel, RoutingRequest
from router.ordering import ORDER_KEYS, OrderKey, Share
from router.strategy import Plan, Strategy, Target

Count = Callable[[str, AgentState], int]
"""Counts picks in the view: the agent and its state with them; returns the view's run
they were counted in (:meth:`router.worker.view.WorkerView.count`; 0 for a bare view)."""

LaneId = tuple[str, tuple[tuple[str, int], ...], Channel, str, str]
"""(queue, target skills, request channel, order, order skill)."""


class _Lane:
    """One target's candidates for one channel during a run."""

    __slots__ = (
        "channel",
        "dirty",
        "entries",
        "fine",
        "head",
        "heap",
        "keys",
        "order",
        "request",
        "skill",
        "skipped",
        "skipped_ids",
        "skipped_keys",
        "slot",
        "target",
    )

    def __init__(
        self, view: AgentView, target: Target, request: RoutingRequest, order: str, skill: str
    ) -> None:
        self.target = target
        self.request = request
        """The request the lane was made for: any other of the run's requests on this lane
        has the same eligibility (no declined agents: ``Runs._simple``)."""
        self.channel = request.channel
        self.slot = request.channel.capacity_channel
        self.order = order
        self.skill = skill if order == "highest_skill" else ""
        self.entries: Iterator[tuple[OrderKey, str]] | None = view.ranked(
            target.queue, self.channel, order, skill
        )
        self.head: tuple[OrderKey, str] | None = None
        """The pool's next eligible agent not picked in the run (None: to be found)."""
        self.skipped: list[tuple[OrderKey, str, str]] = []
        """The pool's agents the cursor passed as ineligible, in order, with why."""
        self.skipped_keys: list[OrderKey] = []
        self.skipped_ids: set[str] = set()
        self.heap: list[tuple[OrderKey, str]] = []
        """Agents picked in the run that are eligible here (stale entries: see ``keys``)."""
        self.keys: dict[str, OrderKey | None] = {}
        """Picked agents' current keys here (None: out of the pool)."""
        self.fine: set[str] = set()
        """Picked agents found eligible here: what the run's picks change of them (their
        load) makes them eligible exactly while they are in the pool, with a free slot."""
        self.dirty = False
        """A picked agent sits ineligible in the pool, or left the cursor's skipped ones: the
        run can no longer tell the trace's ``considered`` (requests of this lane go one by one)."""


class Runs:
    """Decides a batch of requests (:meth:`decide_all`), in runs where it can."""

    def __init__(
        self,
        strategy: Strategy,
        view: AgentView,
        now_ms: int,
        count: Count,
        share: Share | None = None,
    ) -> None:
        self.strategy = strategy
        self.view = view
        self.now = now_ms
        self.count = count
        self.share = share
        self._lanes: dict[LaneId, _Lane] = {}
        self._moved: dict[str, AgentState] = {}
        """Agents picked in the current run: their state with the run's picks."""
        self._picked: dict[str, list[Decision]] = {}
        self._by_plan: dict[tuple[str, int, Channel], tuple[tuple[Target, ...], list[_Lane]]] = {}
        """A plan's lanes by (rule, goal step, channel): its targets are the same."""

    def decide_all(self, requests: list[RoutingRequest]) -> list[Decision]:
        """Every request's decision, each offer counted (``count``) before the next one is
        decided, as by :func:`decide` one after another."""
        out = []
        for r in requests:
            d = self.decide(r)
            if d is None:
                self.close()
                d = decide(r, self.strategy, self.view, self.now, self.share)
                if d.outcome == "offer":
                    aid = d.candidates[0]
                    state = self.view.get(aid)
                    assert state is not None  # a candidate comes from the view
                    d.counted_run = self.count(aid, state.counted(_slot(r), 1, self.now))
            out.append(d)
        self.close()
        return out

    def close(self) -> None:
        """End the run: its picks counted in the view, once per agent."""
        for aid, state in self._moved.items():
            run = self.count(aid, state)
            for d in self._picked[aid]:
                d.counted_run = run
        self._moved.clear()
        self._picked.clear()
        self._lanes.clear()
        self._by_plan.clear()

    def decide(self, request: RoutingRequest) -> Decision | None:
        """``request``'s decision in the run (its pick counted in the run), or None when it
        must be decided one by one."""
        if self.share is not None and self.share[1] > 1:
            return None
        if request.rejected_until:
            return None
        now = self.now
        created = request.created
        wait_end = created + request.max_wait * 1000 if request.max_wait else 0
        if wait_end and now >= wait_end:
            return None
        plan, notes = plan_for(request, self.strategy, now)
        if (
            plan is None
            or plan.overflow is not None
            or plan.preferred_agents
            or plan.order == "weighted_random"
        ):
            return None
        known = request.force_agent or request.owner
        if known and (now - known_since(request)) / 1000 < plan.known_agent_wait:
            return None
        found: list[tuple[OrderKey, str, _Lane, int]] = []
        for lane in self._lanes_of(plan, request):
            best = self._best(lane)
            if best is None:
                return None
            found.append(best)
        if len(found) == 1:
            _key, aid, lane, before = found[0]
            considered = (
                [{"agent": aid, "via": lane.target.queue}] if not before else _considered(found)
            )
        else:
            _key, aid, _lane, _n = min(found, key=lambda f: (f[0], f[1]))
            considered = _considered(found)
        state = self._moved.get(aid) or self.view.get(aid)
        next_check = int(created + plan.next_step_after * 1000) if plan.next_step_after else 0
        trace: dict[str, Any] = {
            "at": now,
            "waited_s": round(max(0.0, (now - created) / 1000), 3),
            "strategy": self.strategy.version,
            "notes": notes,
            "rule": plan.rule,
            "step": plan.step,
            "targets": [target_json(t) for t in plan.targets],
            "order": plan.order,
            "considered": considered,
            "outcome": "offer",
            "chosen": aid,
            "why": pick_reason(plan, state),
        }
        d = Decision(
            request,
            "offer",
            plan,
            [aid],
            next_check=earliest_of(next_check, wait_end),
            trace=trace,
        )
        assert state is not None
        for _key, agent_id, lane, _before in found:
            if agent_id == aid:
                lane.fine.add(aid)  # eligible there: found there
        self._pick(aid, state.counted(_slot(request), 1, now), d)
        return d

    def _lanes_of(self, plan: Plan, request: RoutingRequest) -> list[_Lane]:
        """The lanes of ``plan``'s targets for ``request``'s channel."""
        pid = (plan.rule, plan.step, request.channel)
        known = self._by_plan.get(pid)
        if known is not None and known[0] is plan.targets:
            return known[1]
        lanes = []
        for target in plan.targets:
            lid = (target.queue, target.skills, request.channel, plan.order, plan.order_skill)
            lane = self._lanes.get(lid)
            if lane is None:
                lane = self._lanes[lid] = _Lane(
                    self.view, target, request, plan.order, plan.order_skill
                )
                for aid, state in self._moved.items():
                    self._place(lane, aid, state)
            lanes.append(lane)
        self._by_plan[pid] = (plan.targets, lanes)
        return lanes

    def _best(self, lane: _Lane) -> tuple[OrderKey, str, _Lane, int] | None:
        """The lane's best eligible agent now (key, id, lane, how many ineligible agents
        come before it), or None when the run cannot tell (the request goes one by one)."""
        if lane.dirty:
            return None
        heap, keys = lane.heap, lane.keys
        while heap and keys.get(heap[0][1]) != heap[0][0]:
            heapq.heappop(heap)
        head = lane.head
        if head is not None and head[1] in self._moved:
            head = lane.head = None
        if head is None and lane.entries is not None:
            head = lane.head = self._advance(lane)
            if lane.dirty:
                return None
        if head is None:
            if not heap:
                return None  # no agent at all: the request waits (or the scan limit): old way
            head = heap[0]
        elif heap and heap[0] < head:
            head = heap[0]
        before = len(lane.skipped) if head is lane.head else bisect_left(lane.skipped_keys, head[0])
        if before >= SCAN_LIMIT:
            return None
        return head[0], head[1], lane, before

    def _advance(self, lane: _Lane) -> tuple[OrderKey, str] | None:
        """Move the lane's cursor to the pool's next eligible agent not picked in the run."""
        assert lane.entries is not None
        agents, moved, now = self.view, self._moved, self.now
        targets = (lane.target,)
        for key, aid in lane.entries:
            if aid in moved:
                continue  # its place now: the heap
            agent = agents.get(aid)
            assert agent is not None
            why = refusal_of(lane.request, targets, agent, now)
            if why is None:
                return key, aid
            lane.skipped.append((key, aid, why))
            lane.skipped_keys.append(key)
            lane.skipped_ids.add(aid)
            if len(lane.skipped) >= SCAN_LIMIT:
                # what lies further is not known: one by one, which stops there too
                lane.dirty = True
                return None
        lane.entries = None
        return None

    def _pick(self, aid: str, state: AgentState, d: Decision) -> None:
        self._moved[aid] = state
        picked = self._picked.get(aid)
        if picked is None:
            self._picked[aid] = [d]
        else:
            picked.append(d)
        for lane in self._lanes.values():
            self._place(lane, aid, state)

    def _place(self, lane: _Lane, aid: str, state: AgentState) -> None:
        """A picked agent's new place in ``lane``."""
        if aid in lane.skipped_ids:
            lane.dirty = True
            return
        if aid not in lane.fine:
            if not self.view.lists(state, lane.target.queue, lane.channel):
                lane.keys[aid] = None
                return
            if refusal_of(lane.request, (lane.target,), state, self.now) is not None:
                lane.dirty = True
                return
            lane.fine.add(aid)
        elif not slot_ready(state, lane.slot):
            lane.keys[aid] = None
            return
        key = ORDER_KEYS[lane.order](state, lane.slot, lane.skill)
        if lane.keys.get(aid) != key:
            lane.keys[aid] = key
            heapq.heappush(lane.heap, (key, aid))


def _considered(found: list[tuple[OrderKey, str, _Lane, int]]) -> list[dict[str, Any]]:
    """The trace's ``considered``: per target, the ineligible agents passed over and the one
    found, TRACE_CONSIDERED at most (as ``router.allocation._note`` writes them)."""
    considered: list[dict[str, Any]] = []
    for _key, agent_id, lane, before in found:
        via = lane.target.queue
        for _k, skipped_id, why in lane.skipped[:before]:
            if len(considered) >= TRACE_CONSIDERED:
                break
            considered.append({"agent": skipped_id, "via": via, "skipped": why})
        if len(considered) < TRACE_CONSIDERED:
            considered.append({"agent": agent_id, "via": via})
    return considered


def _slot(request: RoutingRequest) -> str:
    return request.channel.capacity_channel.value
