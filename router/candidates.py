"""An allocation worker's in-memory view of agents, indexed for fast candidate search.

The view is advisory: it is fed by ``agent.*`` events and by the replies of the worker's
own scripts, and may lag Redis by a few milliseconds. The reservation script re-checks
everything atomically, so a stale view costs a lost race, never a double assignment.

For each (queue, capacity channel, order) in use there is a sorted index of the agents
that are members of the queue (they hold every skill the queue names) and are available
with a free slot on that channel. Time-dependent conditions (presence leases, wrap-up)
are checked while iterating, so the index does not need a clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from sortedcontainers import SortedList

from router.model import AgentState, AgentStatus, Channel
from router.ordering import ORDER_KEYS, OrderKey, index_order

PoolId = tuple[str, str, str, str]
"""(queue, capacity channel, order, order skill)."""


@dataclass
class _Pool:
    queue_skills: frozenset[str]
    channel: Channel
    order: str
    skill: str
    entries: SortedList
    keys: dict[str, OrderKey]


class AgentView:
    """Agents by id plus sorted indexes of ready agents; no I/O, no clock."""

    def __init__(self, queue_skills: Mapping[str, Iterable[str]] | None = None) -> None:
        self._agents: dict[str, AgentState] = {}
        self._queue_skills: dict[str, frozenset[str]] = {
            q: frozenset(s) for q, s in (queue_skills or {}).items()
        }
        self._pools: dict[PoolId, _Pool] = {}
        self._orders: set[str] = set()
        """The orders the pools sort by (:meth:`uses_order`: asked at each reservation)."""

    # --- state ---------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._agents)

    def __contains__(self, agent_id: object) -> bool:
        return agent_id in self._agents

    def get(self, agent_id: str) -> AgentState | None:
        return self._agents.get(agent_id)

    def agents(self) -> Iterator[AgentState]:
        return iter(self._agents.values())

    def set_queues(self, queue_skills: Mapping[str, Iterable[str]]) -> None:
        """New queue definitions (a strategy load): indexes are rebuilt lazily."""
        new = {q: frozenset(s) for q, s in queue_skills.items()}
        if new != self._queue_skills:
            self._queue_skills = new
            self._pools.clear()
            self._orders.clear()

    def upsert(self, state: AgentState) -> bool:
        """Apply a newer state of an agent; older versions are ignored. True if applied."""
        old = self._agents.get(state.id)
        if old is not None and state.version and old.version > state.version:
            return False
        self._agents[state.id] = state
        if self._pools:
            self._place_all(state)
        return True

    def remove(self, agent_id: str) -> None:
        if self._agents.pop(agent_id, None) is None:
            return
        for pool in self._pools.values():
            key = pool.keys.pop(agent_id, None)
            if key is not None:
                pool.entries.remove((key, agent_id))

    def uses_order(self, order: str) -> bool:
        """Whether a candidate pool sorts by ``order``."""
        return order in self._orders

    # --- search --------------------------------------------------------------

    def members(self, queue: str) -> frozenset[str]:
        return self._queue_skills.get(queue, frozenset())

    def is_member(self, agent: AgentState, queue: str) -> bool:
        return self.members(queue) <= agent.profile.skills.keys()

    def ready(
        self, queue: str, channel: Channel, order: str, skill: str = ""
    ) -> Iterator[AgentState]:
        """Members of ``queue`` available with a free ``channel`` slot, best first by ``order``.

        Presence leases and wrap-up are not checked here (no clock): callers filter with
        :meth:`AgentState.unavailable_reason`.
        """
        pool = self._pool(queue, channel, order, skill)
        agents = self._agents
        for _key, agent_id in pool.entries:
            yield agents[agent_id]

    def ranked(
        self, queue: str, channel: Channel, order: str, skill: str = ""
    ) -> Iterator[tuple[OrderKey, str]]:
        """:meth:`ready`'s agents as (order key, agent id), best first: the pool itself, which
        must not change while it is iterated (:mod:`router.allocation_runs` reads it so)."""
        return iter(self._pool(queue, channel, order, skill).entries)

    def lists(self, state: AgentState, queue: str, channel: Channel) -> bool:
        """Whether ``state`` belongs in :meth:`ready`'s pools of ``queue`` and ``channel``."""
        return (
            state.status is AgentStatus.AVAILABLE
            and self.members(queue) <= state.profile.skills.keys()
            and slot_ready(state, channel.capacity_channel)
        )

    def order_key(self, agent: AgentState, channel: Channel, order: str, skill: str) -> OrderKey:
        return ORDER_KEYS[order](agent, channel, skill)

    def _pool(self, queue: str, channel: Channel, order: str, skill: str) -> _Pool:
        slot = channel.capacity_channel
        order = index_order(order)
        if order != "highest_skill":
            skill = ""
        pid: PoolId = (queue, slot.value, order, skill)
        pool = self._pools.get(pid)
        if pool is None:
            # sorted once, not agent by agent (10,000 agents: a worker's start-up)
            members = self.members(queue)
            key_of = ORDER_KEYS[order]
            keys = {
                state.id: key_of(state, slot, skill)
                for state in self._agents.values()
                if state.status is AgentStatus.AVAILABLE
                and members <= state.profile.skills.keys()
                and slot_ready(state, slot)
            }
            entries = SortedList((key, agent_id) for agent_id, key in keys.items())
            pool = self._pools[pid] = _Pool(members, slot, order, skill, entries, keys)
            self._orders.add(order)
        return pool

    def _place_all(self, state: AgentState) -> None:
        """:meth:`_place` in every pool, each test made once per agent change rather than
        once per pool (the worker places an agent at each of its reservations and of their
        feed echoes, in every pool: 4 in a two-queue strategy)."""
        agent_id = state.id
        ready_on: dict[Channel, bool] = {}
        keys: dict[tuple[str, Channel, str], OrderKey] = {}
        available = state.status is AgentStatus.AVAILABLE
        skills = state.profile.skills.keys()
        for pool in self._pools.values():
            old = pool.keys.get(agent_id)
            ready = False
            if available:
                channel = pool.channel
                ready_ch = ready_on.get(channel)
                if ready_ch is None:
                    ready_ch = ready_on[channel] = slot_ready(state, channel)
                ready = ready_ch and pool.queue_skills <= skills
            if ready:
                kid = (pool.order, pool.channel, pool.skill)
                key = keys.get(kid)
                if key is None:
                    key = keys[kid] = ORDER_KEYS[pool.order](state, pool.channel, pool.skill)
                if key == old:
                    continue  # most updates leave the agent where it is: no re-sort
                if old is not None:
                    pool.entries.remove((old, agent_id))
                pool.keys[agent_id] = key
                pool.entries.add((key, agent_id))
            elif old is not None:
                del pool.keys[agent_id]
                pool.entries.remove((old, agent_id))


def slot_ready(state: AgentState, slot: Channel) -> bool:
    """A free slot on capacity channel ``slot`` and no contact blocking it."""
    load = state.load
    if state.profile.capacity.get(slot, 0) - load.get(slot, 0) <= 0:
        return False
    for b in state.profile.blockers(slot):  # noqa: SIM110 - a loop, not any(genexpr): per pick
        if load.get(b, 0) > 0:
            return False
    return True
