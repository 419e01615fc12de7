"""Agent orders: the sort key each strategy ORDER gives an agent, and the worker shares
that spread several workers' first choices over the best agents. Pure functions.

Smaller keys come first. Every key ends with the agent id so ties break the same way in
every worker (deterministic, explainable).
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Callable, Sequence
from functools import lru_cache

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


SHARE_WINDOW = 32
"""With a worker share (k of n), the other workers' agents per worker a decision passes
over, at most, looking for one of its own share before it takes the best eligible agent
whoever's it is. Workers fill their own agents, so the best agents soon are mostly the
other workers' (not yet filled in this worker's view): with 4 per worker, 2 workers still
lost a race for 1 assignment in 3 (50,000 requests, longest_idle); with 32, 1 in 28. It
also bounds how far down the order a worker goes while another worker's agents wait (one
that stopped, say)."""

Share = tuple[int, int]
"""(k, n): this worker is the k-th of n; it prefers the agents of its share (agent id's
CRC32 mod n == k), so workers deciding at once do not all pick the same best agent."""


@lru_cache(maxsize=1 << 16)
def in_share(agent_id: str, share: Share) -> bool:
    """Whether ``agent_id`` belongs to worker share ``share`` (the same in every process)."""
    return zlib.crc32(agent_id.encode()) % share[1] == share[0]
