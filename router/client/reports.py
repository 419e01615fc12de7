"""Client operations on the strategy and what the router reports: traces, queue figures,
the event stream."""

from __future__ import annotations

import json
from typing import Any

from router.client.base import OpsBase
from router.client.values import (
    DEFAULT_STRATEGY,
    STATS_WINDOW_MS,
    QueueStats,
    strategy_settings,
)
from router.ewt import estimate_wait, service_level
from router.model import Channel, Event
from router.ops import Batch, Op, Script, cmd, pairs
from router.strategy import CHANNELS, Strategy, parse_strategy


class ReportOps(OpsBase):
    def load_strategy(self, text: str, *, only_if_none: bool = False) -> Op[int]:
        """Validate and install a strategy (raises StrategyError). Returns its version; the
        workers re-apply it to requests already waiting. With `only_if_none` nothing is
        installed when a strategy was ever loaded (its version is returned): checked and
        installed in one script, so a worker starting up never overwrites the strategy an
        admin loads at the same moment."""
        strategy = parse_strategy(text)
        settings = strategy_settings(strategy, self.history_ttl_s)
        version = yield Script("load_strategy", ("1" if only_if_none else "0", text, *settings))
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
        return (yield from self.load_strategy(DEFAULT_STRATEGY, only_if_none=True))

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
                    cmd("ZCARD", self.keys.queue(q, ch)),
                    cmd("ZRANGE", self.keys.queue(q, ch), 0, 199),
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
        agents = yield from self._agents()
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
