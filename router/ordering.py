"""Agent orders: the sort key each strategy ORDER gives an agent. Pure functions.

Smaller keys come first. Every key ends with the agent id so ties break the same way in
every worker (deterministic, explainable).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from router.model import AgentState, Channel

OrderKey = tuple[object, ...]


def longest_idle(a: AgentState, channel: Channel, skill: str) -> OrderKey:
    """Agents with no contact first, then the one idle (last contact ended) longest."""
    return (a.busy > 0, a.idle_since, a.id)


def least_load(a: AgentState, channel: Channel, skill: str) -> OrderKey:
    """The smallest share of this channel's capacity in use; then longest idle."""
    slot = channel.capacity_channel
    cap = a.profile.capacity.get(slot, 0) or 1
    return (a.load.get(slot, 0) / cap, a.busy, a.idle_since, a.id)


def highest_skill(a: AgentState, channel: Channel, skill: str) -> OrderKey:
    """The highest level in the rule's first skill; then longest idle."""
    return (-a.profile.skills.get(skill, 0), a.busy > 0, a.idle_since, a.id)


def round_robin(a: AgentState, channel: Channel, skill: str) -> OrderKey:
    """The agent offered a contact least recently (app_queue's rrmemory)."""
    return (a.last_offer, a.id)


ORDER_KEYS: dict[str, Callable[[AgentState, Channel, str], OrderKey]] = {
    "longest_idle": longest_idle,
    "least_load": least_load,
    "highest_skill": highest_skill,
    "round_robin": round_robin,
    # weighted_random draws among the longest-idle candidates, see `pick_weighted`
    "weighted_random": longest_idle,
}


def index_order(order: str) -> str:
    """The order whose index serves ``order`` (weighted random shares longest idle's)."""
    return "longest_idle" if order == "weighted_random" else order


def pick_weighted(candidates: Sequence[AgentState], seed: str) -> list[AgentState]:
    """Candidates reordered by a weighted draw without replacement (weight = profile.weight).

    Seeded by ``seed`` (the request id and attempt) so a decision can be replayed.
    """
    rng = random.Random(seed)
    pool = list(candidates)
    out: list[AgentState] = []
    while pool:
        weights = [max(a.profile.weight, 0) for a in pool]
        if sum(weights) <= 0:
            out.extend(pool)
            break
        i = rng.choices(range(len(pool)), weights=weights)[0]
        out.append(pool.pop(i))
    return out
