"""Allocation decisions: which agent for a request, which request for an agent. Pure.

Everything here takes the request(s), the strategy, the worker's agent view and ``now``
and returns a decision with its trace; the worker carries decisions out through the
atomic scripts, where a lost race is a normal outcome and the next candidate is tried.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from router.candidates import AgentView
from router.model import AgentState, AgentStatus, RequestState, RoutingRequest
from router.ordering import SHARE_WINDOW, Share, in_share, pick_weighted
from router.strategy import Plan, Strategy, Target

WEIGHTED_POOL = 8
"""Candidates a weighted-random draw chooses among (other orders keep the best only; a
lost reservation race is followed by a new decision on the refreshed view)."""
SCAN_LIMIT = 2000
"""Ready agents looked at per target before giving up on finding more candidates."""
TRACE_CONSIDERED = 8
PRIORITY_WEIGHT = 10**13
"""Queue score = created ms - priority * this: higher priority first, then older first."""

Outcome = Literal["offer", "wait", "overflow"]


def queue_score(created_ms: int, priority: int) -> int:
    return created_ms - priority * PRIORITY_WEIGHT


def facts_of(request: RoutingRequest) -> dict[str, Any]:
    """What a rule's conditions can see about a request."""
    return {
        "channel": request.channel.value,
        "service": request.service,
        "user_id": request.user_id,
        "priority": request.priority,
        "customer": request.customer,
        "pbx": request.pbx,
        "session": {"owner": request.owner, "returning": request.returning},
    }


@dataclass
class Decision:
    """What to do with one routing request now."""

    request: RoutingRequest
    outcome: Outcome
    plan: Plan | None
    candidates: list[str] = field(default_factory=list)
    """Agent ids to try in order (the reservation script may refuse any of them)."""
    pinned: str = ""
    """Known agent the request waits for, until ``pinned_until`` (ms)."""
    pinned_until: int = 0
    next_check: int = 0
    """When (ms) the request must be looked at again: next goal step or end of a pin."""
    overflow_to: str = ""
    """The strategy's overflow destination ("" for the entry point's own)."""
    reason: str = ""
    """Why an overflow ends the request, when not its destination (the request's end reason)."""
    trace: dict[str, Any] = field(default_factory=dict)
    counted_run: int = 0
    """Set by a worker that counted the offer in its view: the view's run of countings it
    belongs to (``router.worker.view.WorkerView.optimistic``)."""

    @property
    def score(self) -> int:
        priority = self.plan.priority if self.plan else self.request.priority
        return queue_score(self.request.created, priority + self.request.priority)


def plan_for(
    request: RoutingRequest, strategy: Strategy, now_ms: int
) -> tuple[Plan | None, list[str]]:
    """The plan for ``request`` at ``now``, or None when no rule (and no default) applies.

    A request a supervisor moved to a named agent waits for that agent at least the
    strategy's default ``known_agent_wait`` (a rule, or the default queue, may have none)."""
    plan, notes = _plan_for(request, strategy, now_ms)
    if plan is not None and request.force_agent and request.forced_at:
        wait = max(plan.known_agent_wait, strategy.defaults.known_agent_wait)
        plan = replace(plan, known_agent_wait=wait)
    return plan, notes


def _plan_for(
    request: RoutingRequest, strategy: Strategy, now_ms: int
) -> tuple[Plan | None, list[str]]:
    waited = max(0.0, (now_ms - request.created) / 1000)
    notes: list[str] = []
    if request.force_queue:
        return strategy.direct_plan(request.force_queue), notes
    rule, rule_notes = strategy.match(facts_of(request))
    notes.extend(rule_notes)
    if rule is not None:
        return strategy.plan(rule, waited), notes
    if strategy.defaults.queue:
        notes.append(f"no rule matched: default queue {strategy.defaults.queue}")
        return strategy.direct_plan(strategy.defaults.queue), notes
    return None, [*notes, "no rule matched and no default queue"]


def decide(
    request: RoutingRequest,
    strategy: Strategy,
    view: AgentView,
    now_ms: int,
    share: Share | None = None,
) -> Decision:
    """Choose agents for a queued request, or say it waits or overflows, with a trace.

    With ``share`` (k, n), the best eligible agent of this worker's share is chosen if
    fewer than SHARE_WINDOW * n agents of other shares come before it (else the best one
    whoever's it is): n workers deciding at once spread over the best agents instead of
    racing for the same one."""
    waited = max(0.0, (now_ms - request.created) / 1000)
    plan, notes = plan_for(request, strategy, now_ms)
    trace: dict[str, Any] = {
        "at": now_ms,
        "waited_s": round(waited, 3),
        "strategy": strategy.version,
        "notes": notes,
    }
    wait_end = request.created + request.max_wait * 1000 if request.max_wait else 0
    if wait_end and now_ms >= wait_end:
        late = f"waited the entry point's max wait ({request.max_wait}s)"
        trace.update(outcome="overflow", why=late)
        return Decision(request, "overflow", plan, reason=late, trace=trace)
    if plan is None:
        trace.update(
            outcome="overflow", why="no rule matched and the strategy has no default queue"
        )
        return Decision(
            request, "overflow", None, overflow_to=strategy.defaults.overflow, trace=trace
        )
    trace.update(
        rule=plan.rule,
        step=plan.step,
        targets=[target_json(t) for t in plan.targets],
        order=plan.order,
    )
    if plan.overflow is not None:
        trace.update(
            outcome="overflow", why=f"goal step {plan.step} overflows to {plan.overflow!r}"
        )
        return Decision(request, "overflow", plan, overflow_to=plan.overflow, trace=trace)

    next_check = int(request.created + plan.next_step_after * 1000) if plan.next_step_after else 0
    next_check = earliest_of(next_check, wait_end)
    channel = request.channel

    known = request.force_agent or request.owner
    known_wait = plan.known_agent_wait
    since = known_since(request)
    if known and (now_ms - since) / 1000 < known_wait:
        agent = view.get(known)
        present = agent is not None and _logged_in(agent, now_ms)
        if present:
            assert agent is not None
            why = agent.unavailable_reason(channel, now_ms) or _rejected(request, known, now_ms)
            if why is None:
                trace.update(
                    outcome="offer",
                    known_agent=known,
                    chosen=known,
                    why=f"known agent {known} owns the session and can take {channel}",
                )
                return Decision(request, "offer", plan, [known], next_check=next_check, trace=trace)
            until = int(since + known_wait * 1000)
            trace.update(
                outcome="wait",
                known_agent=known,
                why=f"waiting up to {known_wait:g}s for known agent {known} ({why})",
            )
            return Decision(
                request,
                "wait",
                plan,
                pinned=known,
                pinned_until=until,
                next_check=earliest_of(next_check, until),
                trace=trace,
            )
        trace["known_agent"] = known
        notes.append(f"known agent {known} is offline: routing by the strategy")

    considered: list[dict[str, Any]] = []
    picks = _candidates(request, plan, view, now_ms, considered, share=share)
    trace["considered"] = considered
    if not picks:
        trace.update(
            outcome="wait", why="no eligible agent is free: waiting in " + ", ".join(plan.queues)
        )
        return Decision(request, "wait", plan, next_check=next_check, trace=trace)
    trace.update(outcome="offer", chosen=picks[0], why=pick_reason(plan, view.get(picks[0])))
    if share is not None and share[1] > 1 and picks[0] not in plan.preferred_agents:
        trace["share"] = f"worker {share[0] + 1} of {share[1]}"
    return Decision(request, "offer", plan, picks, next_check=next_check, trace=trace)


def rank(
    request: RoutingRequest, plan: Plan, view: AgentView, now_ms: int, limit: int
) -> list[str]:
    """The ``limit`` best agents for ``request`` under ``plan``, best first."""
    return _candidates(request, plan, view, now_ms, [], limit)


def _candidates(
    request: RoutingRequest,
    plan: Plan,
    view: AgentView,
    now_ms: int,
    considered: list[dict[str, Any]],
    limit: int = 0,
    share: Share | None = None,
) -> list[str]:
    channel = request.channel
    limit = limit or (WEIGHTED_POOL if plan.order == "weighted_random" else 1)
    if limit != 1 or share is None or share[1] <= 1:
        share = None  # a weighted draw or a ranking spreads (or lists) on its own
    chosen: list[str] = []
    for agent_id in plan.preferred_agents:
        agent = view.get(agent_id)
        if agent is None:
            continue
        why = refusal_of(request, plan.targets, agent, now_ms)
        _note(considered, agent_id, "preferred", why)
        if why is None:
            chosen.append(agent_id)
    per_target: list[list[tuple[Any, str]]] = []
    for target in plan.targets:
        found: list[tuple[Any, str]] = []
        others = 0  # agents of other workers' shares passed over
        fallback: AgentState | None = None
        ready = view.ready(target.queue, channel, plan.order, plan.order_skill)
        for scanned, agent in enumerate(ready, 1):
            if scanned > SCAN_LIMIT:
                _note(considered, "*", target.queue, f"scan limit {SCAN_LIMIT} reached")
                break
            if share is not None and not in_share(agent.id, share):
                # another worker's: only the first eligible one is kept, in case none of
                # ours is near the top (checking the others would cost per decision)
                if (
                    fallback is None
                    and agent.id not in chosen
                    and refusal_of(request, (target,), agent, now_ms) is None
                ):
                    fallback = agent
                others += 1
                if others >= SHARE_WINDOW * share[1]:
                    break
                continue
            why = refusal_of(request, (target,), agent, now_ms)
            if why is None and agent.id not in chosen:
                found.append(
                    (view.order_key(agent, channel, plan.order, plan.order_skill), agent.id)
                )
                _note(considered, agent.id, target.queue, None)
                if len(found) >= limit:
                    break
            elif why is not None:
                _note(considered, agent.id, target.queue, why)
        if not found and fallback is not None:
            key = view.order_key(fallback, channel, plan.order, plan.order_skill)
            found.append((key, fallback.id))
            _note(considered, fallback.id, target.queue, None)
        per_target.append(found)
    if len(per_target) == 1:  # one target (most rules): already in order
        merged = [agent_id for _key, agent_id in per_target[0]]
    else:
        merged = [agent_id for _key, agent_id in heapq.merge(*per_target)]
    for agent_id in merged:
        if agent_id not in chosen:
            chosen.append(agent_id)
    if plan.order == "weighted_random":
        states = [s for s in (view.get(a) for a in chosen) if s is not None]
        chosen = [a.id for a in pick_weighted(states, f"{request.id}:{request.attempts}")]
    return chosen[:limit]


def refusal_of(
    request: RoutingRequest, targets: Sequence[Target], agent: AgentState, now_ms: int
) -> str | None:
    """Why ``agent`` cannot take ``request`` through any of ``targets`` now (None: it can)."""
    skills = agent.profile.skills
    for t in targets:
        if t.admits(skills):
            break
    else:
        return "skills below the minimum"
    why = agent.unavailable_reason(request.channel, now_ms)
    if why is None and request.rejected_until:
        return _rejected(request, agent.id, now_ms)
    return why


def _rejected(request: RoutingRequest, agent_id: str, now_ms: int) -> str | None:
    until = request.rejected_until.get(agent_id, 0)
    if until <= now_ms:
        return None
    return f"declined it; not offered again for {(until - now_ms) / 1000:.0f}s"


def known_since(request: RoutingRequest) -> int:
    """Since when (ms) the request waits for its known agent: since it was filed, or since a
    supervisor moved it to a named agent (``forced_at``)."""
    return request.forced_at if request.force_agent and request.forced_at else request.created


def _logged_in(agent: AgentState, now_ms: int) -> bool:
    return agent.status is not AgentStatus.OFFLINE and agent.leases.get("desktop", 0) > now_ms


def _note(considered: list[dict[str, Any]], agent_id: str, via: str, why: str | None) -> None:
    if len(considered) < TRACE_CONSIDERED:
        considered.append(
            {"agent": agent_id, "via": via, "skipped": why}
            if why
            else {"agent": agent_id, "via": via}
        )


def pick_reason(plan: Plan, agent: AgentState | None) -> str:
    """The decision trace's words for why ``agent`` was picked under ``plan``."""
    if agent is None:
        return "first candidate"
    if agent.id in plan.preferred_agents:
        return f"preferred agent of rule {plan.rule}"
    why = _WHY.get(plan.order)  # only the order's text is built: one per decision
    return why(plan, agent) if why is not None else plan.order


_WHY: dict[str, Callable[[Plan, AgentState], str]] = {
    "longest_idle": lambda p, a: f"longest idle (since {a.idle_since}, {a.busy} active contacts)",
    "least_load": lambda p, a: f"least loaded ({a.load})",
    "highest_skill": lambda p, a: (
        f"highest {p.order_skill} level ({a.profile.skills.get(p.order_skill, 0)})"
    ),
    "round_robin": lambda p, a: f"offered least recently (last offer at {a.last_offer})",
    "weighted_random": lambda p, a: f"weighted random draw (weight {a.profile.weight})",
}


def target_json(t: Target) -> dict[str, Any]:
    """A target as the decision trace writes it."""
    return {"queue": t.queue, "skills": dict(t.skills)}


def earliest_of(*times: int) -> int:
    """The earliest of ``times`` in ms that are set (> 0); 0 when none is."""
    real = [t for t in times if t > 0]
    return min(real) if real else 0


@dataclass(frozen=True)
class Match:
    """An agent-side match: this waiting request suits the agent who just became free."""

    request: RoutingRequest
    plan: Plan
    trace: dict[str, Any]


@dataclass(frozen=True)
class Waiting:
    """A queued request with its plan at ``now``, ready for agent-side matching."""

    score: int
    request: RoutingRequest
    plan: Plan
    notes: tuple[str, ...]

    @property
    def known(self) -> str:
        return self.request.force_agent or self.request.owner


def waiting_line(
    requests: Iterable[RoutingRequest], strategy: Strategy, now_ms: int
) -> list[Waiting]:
    """Queued requests that may still be served, best first (priority, then age). Plans are
    computed once here: matching many free agents against the same waiting requests costs
    one rule evaluation per request, not one per agent and request."""
    line = []
    for request in requests:
        if request.state is not RequestState.QUEUED:
            continue
        plan, notes = plan_for(request, strategy, now_ms)
        if plan is None or plan.overflow is not None:
            continue  # overflow is the request side's job (its goal timer)
        score = queue_score(request.created, plan.priority + request.priority)
        line.append(Waiting(score, request, plan, tuple(notes)))
    line.sort(key=lambda w: (w.score, w.request.id))
    return line


def choose_request(
    agent: AgentState, line: Sequence[Waiting], view: AgentView, now_ms: int, version: int = 0
) -> Match | None:
    """The waiting request the free ``agent`` takes: its own known customers first, then the
    best of the line it may serve. Requests waiting for another known agent are left alone."""
    own = [w for w in line if w.known == agent.id]
    for w in own or line:
        if _may_take(agent, w, view, now_ms):
            waited = (now_ms - w.request.created) / 1000
            why = (
                f"known agent {agent.id} became free"
                if w.known == agent.id
                else f"agent {agent.id} became free; this is the best waiting request it may take"
            )
            trace = {
                "at": now_ms,
                "waited_s": round(waited, 3),
                "strategy": version,
                "rule": w.plan.rule,
                "step": w.plan.step,
                "targets": [target_json(t) for t in w.plan.targets],
                "order": w.plan.order,
                "notes": list(w.notes),
                "outcome": "offer",
                "chosen": agent.id,
                "why": why,
            }
            return Match(w.request, w.plan, trace)
    if own:
        return choose_request(
            agent, [w for w in line if w.known != agent.id], view, now_ms, version
        )
    return None


def _may_take(agent: AgentState, w: Waiting, view: AgentView, now_ms: int) -> bool:
    request, plan, known = w.request, w.plan, w.known
    waited = (now_ms - known_since(request)) / 1000
    if known and known != agent.id and waited < plan.known_agent_wait:
        other = view.get(known)
        if other is not None and _logged_in(other, now_ms):
            return False  # still reserved for its known agent
    if known != agent.id and not any(t.admits(agent.profile.skills) for t in plan.targets):
        return False
    return not (
        agent.unavailable_reason(request.channel, now_ms) or _rejected(request, agent.id, now_ms)
    )
