"""A worker's periodic chores beside allocation: due timers into the work stream, expired
presence leases, work items of silent workers, the sweep that matches requests and free
agents no event brought together, idle sessions, and trimming the work stream."""

from __future__ import annotations

import logging
import time
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from router.keys import WORK_GROUP
from router.model import PRESENCE_SOURCES
from router.ops import Batch, Script, cmd

if TYPE_CHECKING:
    from router.worker.loop import Worker

log = logging.getLogger("implus.router")

TIMERS_PER_CALL = 1000
LEASES_PER_CALL = 500
CLAIM_COUNT = 500
IDLE_SESSIONS_PER_ROUND = 200
SWEEP_REQUESTS = 1000
"""Waiting requests the periodic sweep decides again, at most, per round."""


class Housekeeping:
    """Runs each chore when its interval (from the worker's settings) has passed."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.client = worker.client
        self.keys = worker.client.keys
        self.redis: Any = worker.client.redis
        self.next_due: dict[str, float] = {}
        """Monotonic time at which each chore runs next."""
        self._claiming: Future[object] | None = None
        """The claim of due timers running behind reservations under way, if one is."""

    def _due(self, name: str, interval_s: float) -> bool:
        t = time.monotonic()
        if t >= self.next_due.get(name, 0.0):
            self.next_due[name] = t + interval_s
            return True
        return False

    def run_due(self) -> None:
        s = self.worker.settings
        claiming = self._claiming
        if claiming is not None and (claiming.done() or not self.worker.allocator.sending()):
            # done before a round with no batch under way goes on (its items are in the
            # stream for the round's read); what it raised is raised here, as if run here
            self._claiming = None
            claiming.result()
        if self._due("timers", s.timer_interval_ms / 1000) and self._claiming is None:
            # behind a batch of reservations under way, on their thread: the worker decides
            # meanwhile rather than wait for Redis to get to the claim (~6% of a busy run)
            self._claiming = self.worker.allocator.behind_sent(self.claim_timers)
            if self._claiming is None:
                self.claim_timers()
        if self._due("reaper", s.reaper_interval_ms / 1000):
            for source in PRESENCE_SOURCES:
                self.client.execute(Script("expire_leases", (source, LEASES_PER_CALL)))
        if self._due("claim", s.claim_idle_ms / 3000):
            self.claim_stale()
        if s.sweep_interval_s and self._due("sweep", s.sweep_interval_s):
            self.sweep()
        if self._due("housekeeping", s.housekeeping_interval_s):
            self.close_idle_sessions()
            self.trim_work()

    def claim_timers(self) -> None:
        """Due timers (offer deadlines, goal steps, ...) into the work stream."""
        claim = Script("claim_timers", (TIMERS_PER_CALL,))
        while self.client.execute(claim) == TIMERS_PER_CALL:
            pass

    def sweep(self) -> None:
        """Requests waiting in queues where the view shows a free agent are decided again.

        Matching is event-driven (a new request looks for an agent, an agent who becomes
        free looks for a request), so a request that lost all its races and an agent no
        event woke could otherwise stay apart. This round costs one pipelined ZCARD per
        queue and channel when nobody waits."""
        allocator = self.worker.allocator
        lines = allocator.waiting_lines()
        counts = self.client.execute(
            Batch(tuple(cmd("ZCARD", self.keys.queue(q, c.value)) for q, c in lines))
        )
        now = self.client.ops.clock()
        agents = self.worker.view.agents
        stuck = [
            self.keys.queue(queue, channel.value)
            for (queue, channel), waiting in zip(lines, counts, strict=True)
            if waiting
            and any(
                a.unavailable_reason(channel, now) is None
                for a in agents.ready(queue, channel, "longest_idle")
            )
        ]
        if not stuck:
            return
        heads = self.client.execute(
            Batch(tuple(cmd("ZRANGE", k, 0, SWEEP_REQUESTS - 1) for k in stuck))
        )
        ids = list(dict.fromkeys(r for head in heads for r in head))[:SWEEP_REQUESTS]
        if ids:
            self.worker.stats.sweeps += 1
            allocator.route_requests(ids)

    def claim_stale(self) -> None:
        """Work items a silent worker read and never acknowledged are handled here."""
        reply = self.redis.xautoclaim(
            self.keys.work(),
            WORK_GROUP,
            self.worker.name,
            min_idle_time=self.worker.settings.claim_idle_ms,
            start_id="0-0",
            count=CLAIM_COUNT,
        )
        entries = [e for e in reply[1] if e and e[1]]
        if entries:
            log.warning("took over %d work items from a silent worker", len(entries))
            self.worker.handle(entries, fresh=False)

    def close_idle_sessions(self) -> None:
        cutoff = self.client.ops.clock() - int(self.worker.settings.session_idle_s * 1000)
        for sid in self.redis.zrangebyscore(
            self.keys.sessions_activity(), "-inf", cutoff, start=0, num=IDLE_SESSIONS_PER_ROUND
        ):
            self.client.close_if_idle(sid, cutoff)

    def trim_work(self) -> None:
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
