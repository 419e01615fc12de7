"""What one allocation worker knows: every agent's state and the current strategy, kept
current from the ``agent-feed`` stream (and corrected by its own reservations)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from router.candidates import AgentView
from router.client import RouterClient
from router.model import AgentState, AgentStatus, Channel, as_int
from router.ops import Batch, Command, cmd, pairs
from router.strategy import Strategy, parse_strategy
from router.worker.settings import WorkerStats

FEED_READ = 5000
"""Agent feed entries read per round trip while catching up."""


class WorkerView:
    """The agents (:class:`AgentView`, with candidate pools per queue) and the strategy."""

    def __init__(self, client: RouterClient, stats: WorkerStats | None = None) -> None:
        self.client = client
        self.stats = stats or WorkerStats()
        self.keys = client.keys
        self.redis: Any = client.redis  # redis-py types do not know decode_responses
        self.agents = AgentView()
        self.strategy: Strategy = parse_strategy("rules: []")
        self.feed_id = "0-0"
        self._ours: dict[str, tuple[AgentState, int]] = {}
        """Per agent: the state this worker's last counting (:meth:`optimistic`) put in the
        view, and its run - countings of this worker one on top of the other, with nothing
        else replacing the agent's state in between."""
        self._runs = itertools.count(1)
        self._echoes: dict[str, tuple[str, int]] = {}
        """Feed entry id -> (agent, run): the agent.state entries this worker's own won
        reservations wrote (:meth:`expect_echo`)."""

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

    def settles(self, read: Any) -> bool:
        """Whether :meth:`sync` of ``read`` (a reply of :meth:`feed_step`) would read no
        more of the feed and load no strategy: applying it then changes the agents alone,
        and may wait until reservations decided before it are sent."""
        rows = stream_entries(read)
        # a field list holding the value anywhere counts (a reload is rare: no dict made)
        return len(rows) < FEED_READ and all(
            "strategy.loaded" not in (f.values() if isinstance(f, dict) else f) for _, f in rows
        )

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
            rows = stream_entries(reply)
            echoes = self._echoes
            for entry_id, raw in rows:
                self.feed_id = entry_id
                if echoes and entry_id in echoes and self._counted_already(entry_id):
                    self.stats.echoes_skipped += 1  # its fields not even made a dict
                    continue
                fields = pairs(raw)
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
        # Caught up: every echo expected was written before this read (its reservation had
        # replied), so it was read (or trimmed away, behind a worker far behind): forget them.
        self._echoes.clear()
        if unknown:
            for h in self.client.execute(batch_read(self.keys.agent, sorted(unknown))):
                if h:
                    self._apply(None, AgentState.from_hash(pairs(h)), freed)
        return freed

    def _apply(self, old: AgentState | None, new: AgentState, freed: set[str]) -> None:
        if self.agents.upsert(new) and _more_free(old, new):
            freed.add(new.id)

    def optimistic(self, agent_id: str, channel: Channel, now: int, count: int = 1) -> int:
        """Count our own reservation in the view at once, before its event comes back
        (``count=-1`` takes back one that did not happen). Returns the run this counting
        belongs to (0: the agent is not in the view), for :meth:`expect_echo`."""
        agent = self.agents.get(agent_id)
        if agent is None:
            return 0
        return self.count(agent_id, agent.counted(channel.capacity_channel.value, count, now))

    def count(self, agent_id: str, new: AgentState) -> int:
        """Put ``new``, the view's state of the agent with this worker's picks counted in it
        (:meth:`optimistic`'s, or a run's: ``router.allocation_runs``), in the view. Returns
        the run this counting belongs to."""
        ours = self._ours.get(agent_id)
        agent = self.agents.get(agent_id)
        run = ours[1] if ours is not None and ours[0] is agent else next(self._runs)
        self.agents.upsert(new)
        self._ours[agent_id] = (new, run)
        return run

    def expect_echo(self, entry_id: str, agent_id: str, run: int) -> None:
        """The agent feed's entry ``entry_id`` is the agent.state event of a reservation this
        worker won on ``agent_id``, counted in the view in ``run``. When the feed brings it
        and the view's state of the agent is still the one the run's last counting made,
        the entry is skipped: the view holds what it says already (nothing else changed the
        agent since: any other change's entry, before it in the feed, would have replaced
        that state). What the view keeps apart from Redis then: the agent's version (lower:
        any later change still applies) and ``last_offer`` (the decision's time, not the
        script's), which no decision reads unless an order sorts by it - with a round_robin
        pool the echo is applied as any entry."""
        if run and not self.agents.uses_order("round_robin"):
            self._echoes[entry_id] = (agent_id, run)

    def _counted_already(self, entry_id: str) -> bool:
        agent_id, run = self._echoes.pop(entry_id)
        ours = self._ours.get(agent_id)
        return ours is not None and ours[1] == run and self.agents.get(agent_id) is ours[0]

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


def stream_entries(reply: Any) -> list[Any]:
    """The entries of a reply to XREAD or XREADGROUP of one stream, each (id, fields), in
    whichever shape it came: as the connection read it (:meth:`DirectPipeline.execute`'s
    ``raw``: RESP3 ``{stream: [[id, [field, value, ...]], ...]}`` or RESP2 ``[[stream,
    entries]]``; fields as a flat list) or through redis-py's callback (fields as a dict).
    Entries whose fields are needed are made dicts by :func:`router.ops.pairs` - the worker skips
    its reservations' feed echoes without (~0.7 us each)."""
    if not reply:
        return []
    if isinstance(reply, dict):
        (rows,) = reply.values()
    else:
        rows = reply[0][1]
    return rows or []
