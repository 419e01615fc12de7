"""What one allocation worker knows: every agent's state and the current strategy, kept
current from the ``agent-feed`` stream (and corrected by its own reservations)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from router.candidates import AgentView
from router.client import RouterClient
from router.model import AgentState, AgentStatus, Channel, as_int
from router.ops import Batch, Command, cmd, pairs
from router.strategy import Strategy, parse_strategy

FEED_READ = 5000
"""Agent feed entries read per round trip while catching up."""


class WorkerView:
    """The agents (:class:`AgentView`, with candidate pools per queue) and the strategy."""

    def __init__(self, client: RouterClient) -> None:
        self.client = client
        self.keys = client.keys
        self.redis: Any = client.redis  # redis-py types do not know decode_responses
        self.agents = AgentView()
        self.strategy: Strategy = parse_strategy("rules: []")
        self.feed_id = "0-0"

    def start(self) -> None:
        """Load the strategy and every agent; follow the feed from now on."""
        self.load_strategy()
        last = self.redis.xrevrange(self.keys.agent_feed(), count=1)
        self.feed_id = last[0][0] if last else "0-0"
        for agent in self.client.agents():
            self.agents.upsert(agent)

    def load_strategy(self) -> None:
        self.strategy = self.client.strategy()
        self.agents.set_queues(
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
                    next(
                        self.agents.ready(target.queue, channel, plan.order, plan.order_skill),
                        None,
                    )

    def feed_step(self) -> Command:
        """The read of the agent feed's next entries, for a caller that sends it in the
        pipeline of another call (the worker's read of its work) and passes the reply to
        :meth:`sync`: one round trip less per round."""
        return cmd("XREAD", "COUNT", FEED_READ, "STREAMS", self.keys.agent_feed(), self.feed_id)

    def sync(self, read: Any = None, *, sent: bool = False) -> set[str]:
        """Apply the agent feed; returns agents that may have become free. ``sent``: the
        first read (:meth:`feed_step`) was already made, ``read`` is its reply."""
        freed: set[str] = set()
        unknown: set[str] = set()
        while True:
            reply = (
                read
                if sent
                else self.redis.xread({self.keys.agent_feed(): self.feed_id}, count=FEED_READ)
            )
            sent = False
            rows = reply[0][1] if reply else []
            for entry_id, fields in rows:
                self.feed_id = entry_id
                etype = fields.get("type")
                if etype == "agent.state":
                    old = self.agents.get(fields["agent"])
                    if old is None:
                        unknown.add(fields["agent"])  # its profile event came before we started
                    elif as_int(fields.get("v")) > old.version:
                        self._apply(old, old.with_live(fields), freed)
                elif etype == "agent.profile":
                    state = AgentState.from_hash(
                        {k: v for k, v in fields.items() if k not in ("type", "agent")}
                    )
                    self._apply(self.agents.get(state.id), state, freed)
                elif etype == "agent.removed":
                    self.agents.remove(fields.get("agent", ""))
                elif (
                    etype == "strategy.loaded"
                    and int(fields.get("version", 0)) > self.strategy.version
                ):
                    self.load_strategy()
            if len(rows) < FEED_READ:
                break
        if unknown:
            for h in self.client.execute(batch_read(self.keys.agent, sorted(unknown))):
                if h:
                    self._apply(None, AgentState.from_hash(pairs(h)), freed)
        return freed

    def _apply(self, old: AgentState | None, new: AgentState, freed: set[str]) -> None:
        if self.agents.upsert(new) and _more_free(old, new):
            freed.add(new.id)

    def optimistic(self, agent_id: str, channel: Channel, now: int, count: int = 1) -> None:
        """Count our own reservation in the view at once, before its event comes back
        (``count=-1`` takes back one that did not happen)."""
        agent = self.agents.get(agent_id)
        if agent is None:
            return
        self.agents.upsert(agent.counted(channel.capacity_channel.value, count, now))

    def correct(self, agent_hash: list[str] | dict[str, str] | None) -> None:
        """A reservation refused with the agent's current hash: the view learns it."""
        if agent_hash:
            self.agents.upsert(AgentState.from_hash(pairs(agent_hash)))


def _more_free(old: AgentState | None, new: AgentState) -> bool:
    if new.status is not AgentStatus.AVAILABLE:
        return False
    if old is None or old.status is not AgentStatus.AVAILABLE:
        return True
    return new.busy < old.busy or new.wrapup_until < old.wrapup_until or new.devices != old.devices


def batch_read(key: Callable[[str], str], ids: list[str]) -> Batch:
    """One pipeline reading the hash of every id."""
    return Batch(tuple(cmd("HGETALL", key(i)) for i in ids))
