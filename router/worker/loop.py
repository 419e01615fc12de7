"""The allocation worker: a stateless process that carries out routing decisions.

Any number of workers read the ``work`` stream through the consumer group ``routers``:
new and returning requests, agents who became free, offer timeouts, strategy reloads.
A worker that dies leaves its items pending; another one claims them after
``claim_idle_ms``. Every item is handled idempotently (the scripts check states), so
at-least-once delivery is safe.

Each round: due chores run (:mod:`router.worker.housekeeping`), the next batch is read,
the work items of the last batch carried out are acknowledged and the worker's view
follows the agent feed (:mod:`router.worker.view`) - those three in ONE round trip - and
the batch is allocated (:mod:`router.worker.allocator`).
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import os
import socket
import time
from typing import Any

import redis

from router.client import RouterClient
from router.connect import MasterWatch, is_failover_error, master_identity
from router.direct import DirectPipeline
from router.errors import RouterUnavailable
from router.keys import WORK_GROUP
from router.model import RoutingRequest
from router.ops import Batch, Command, cmd, pairs
from router.worker.allocator import Allocator, Routing
from router.worker.housekeeping import Housekeeping
from router.worker.settings import WorkerSettings, WorkerStats
from router.worker.view import WorkerView, stream_entries

log = logging.getLogger("implus.router")


class Worker:
    """One allocation worker. ``run()`` loops until ``stop()``; ``step()`` is one round."""

    def __init__(
        self, client: RouterClient, name: str | None = None, settings: WorkerSettings | None = None
    ) -> None:
        self.client = client
        self.keys = client.keys
        self.redis: Any = client.redis  # redis-py types do not know decode_responses
        self.name = name or f"{socket.gethostname()}-{os.getpid()}"
        self.settings = settings or WorkerSettings()
        """Read at every round: a test (or an operator's hook) may replace it."""
        self.stats = WorkerStats()
        self.view = WorkerView(client, self.stats)
        self.direct = DirectPipeline(client, size=1)
        """The connection this thread sends its reads and reservations on (~28 us less
        client CPU per round trip than redis-py's pipeline; :mod:`router.direct`)."""
        self.allocator = Allocator(client, self.view, self.stats, self.settings.share, self.direct)
        self.housekeeping = Housekeeping(self)
        self._stopping = False
        self._watch = MasterWatch()
        self._watch_at = 0.0
        self._inflight: tuple[Routing, list[str]] | None = None
        """A batch of requests whose reservations Redis runs while the next batch is
        decided, and its work items (acknowledged once it is carried out)."""
        self._prefetched: list[tuple[str, dict[str, str]]] | None = None
        """The next batch, read before a batch's reservations were sent (``_route``): read
        behind them, the read would wait in Redis until they all ran."""
        self._unacked: list[str] = []
        """Work items carried out, not acknowledged yet: the XACK goes in the pipeline of
        the next round's read (or at once when a round finds no work, or at the end)."""

    def start(self) -> None:
        """Load the strategy and the agent view, then create the consumer group if needed and
        join it: a worker is seen serving (XINFO CONSUMERS) once it can decide, not while it
        loads its view (~0.6 s with 10,000 agents; the throughput benchmark's latency phase
        started its requests 0.5 s after the worker joined, and some runs measured the rest
        of the loading as a ~370 ms offer latency)."""
        self.client.ensure_strategy()
        self.view.start()
        self._join_group()
        log.info(
            "worker %s ready: %d agents, strategy v%d",
            self.name,
            len(self.view.agents),
            self.view.strategy.version,
        )

    def _join_group(self) -> None:
        """Create the consumer group if needed and join it now, not at the first read: who is
        serving must be visible (XINFO CONSUMERS) even while there is no work."""
        try:
            self.redis.xgroup_create(self.keys.work(), WORK_GROUP, id="0", mkstream=True)
        except redis.ResponseError as e:
            if "BUSYGROUP" not in str(e):
                raise
        self.redis.xgroup_createconsumer(self.keys.work(), WORK_GROUP, self.name)

    def stop(self) -> None:
        self._stopping = True

    def run(self) -> None:
        self.start()
        _freeze_heap()
        interval = self.settings.cycle_collect_interval_s
        cycles_at = time.monotonic() + interval
        outage = False
        while not self._stopping:
            try:
                if outage or self._master_changed():
                    self.resync()
                    outage = False
                found = self.step()
                gc.freeze()  # what the round left alive: out of the collector's passes
                now = time.monotonic()
                # the full pass (~50 ms) waits for a round that found no work, for one more
                # interval at most
                if now >= cycles_at and (not found or now >= cycles_at + interval):
                    cycles_at = now + interval
                    _collect_cycles()
            except redis.ResponseError as e:
                if "NOGROUP" in str(e):
                    # Redis came back without the group (restarted from an older snapshot,
                    # or a replica promoted before the group reached it): make it again.
                    log.warning("the work stream lost its consumer group (%s); creating it", e)
                    self._join_group()
                    continue
                if not is_failover_error(e):
                    raise
                outage = self._pause(e)
            except (redis.RedisError, RouterUnavailable) as e:
                outage = self._pause(e)
        try:
            self.wind_down()
        except (redis.RedisError, RouterUnavailable) as e:
            log.error("the last batch was not carried out (%s): another worker takes it", e)
        self.allocator.close()
        # One line an operator (and the throughput benchmark) can read: how much of the
        # work was lost races or waits rather than offers.
        log.info(
            "worker %s stopped: %s",
            self.name,
            " ".join(f"{k}={v}" for k, v in dataclasses.asdict(self.stats).items()),
        )

    def wind_down(self) -> None:
        """After ``stop()``: carry out what was read (a batch read ahead, a batch under way)
        and acknowledge it all."""
        if self._prefetched:
            entries, self._prefetched = self._prefetched, None
            self.handle(entries)
        self.flush()
        self.ack()

    def _pause(self, e: Exception) -> bool:
        log.error("Redis unavailable (%s); retrying in 1 s", e)
        time.sleep(1)
        return True

    def _master_changed(self) -> bool:
        """Once a second: is another Redis answering than at the last look (a promoted
        replica, a restart)? A Redis Cluster client follows a failover inside its own
        retries, so no error would tell the worker its view may be ahead of the data."""
        now = time.monotonic()
        if now < self._watch_at:
            return False
        self._watch_at = now + MasterWatch.INTERVAL_S
        if self._watch.answered(master_identity(self.redis)):
            log.warning("another Redis master answers now; rebuilding the worker's view")
            return True
        return False

    def resync(self) -> None:
        """After Redis was unavailable: what answers now may be a promoted replica or a
        restarted server, without the last changes the view saw; rebuild the view, the
        strategy and the group membership from it."""
        # a batch under way (or read ahead) is dropped: its items stay pending and are taken over
        self._inflight = None
        self._prefetched = None
        self.allocator.close()
        self.direct.reset()  # what answers now may be another server
        self.view = WorkerView(self.client, self.stats)
        self.allocator = Allocator(
            self.client, self.view, self.stats, self.settings.share, self.direct
        )
        self.start()
        _freeze_heap()

    def step(self, block_ms: int | None = None) -> int:
        """One round: run due housekeeping, then read a batch of work, acknowledge what the
        last round carried out and read the agent feed in one pipeline, and handle the batch.

        Redis runs the pipeline in order: the feed is read once the work is (after the
        blocking read returns), so the batch is decided on a view as fresh as a separate
        sync after the read would give, without its round trip. While reservations are
        under way the feed is not read here: it would replace the states they were counted
        in with states that do not have them yet (``flush`` syncs after them)."""
        self.housekeeping.run_due()
        if self._prefetched is not None:
            entries, self._prefetched = self._prefetched, None
            if entries:
                self.handle(entries)
                return len(entries)
        piped = self._inflight is None
        replies = self._read(
            # with reservations under way, no wait: their replies come first
            None if not piped else self.settings.block_ms if block_ms is None else block_ms,
            piped,
        )
        if piped:
            self.view.sync(replies[-1], sent=True)
        entries = _work(replies[0])
        if entries:
            self.handle(entries)
        else:
            self.flush()
            self.ack()  # nothing to share a round trip with: the worker is idle
        return len(entries)

    def _read(self, block_ms: int | None, feed: bool) -> list[Any]:
        """One pipeline: XREADGROUP of the next batch (its reply first), XACK of the items
        carried out (if any), XREAD of the agent feed (``feed``). The acknowledged items
        are forgotten only once Redis answered: sent again, an XACK is harmless.

        The XACK comes after the read: Redis holds a blocked client's next commands until
        the read returns, so every reply comes in one write and the worker wakes once per
        round; before the read, its reply alone woke the worker first (a write in Redis, a
        wake-up and a read in the worker: ~25-30 us of CPU per round, BENCHMARKS.md routing
        core, late night). The items stay pending until the work arrives (at most
        ``block_ms`` longer); a worker that dies meanwhile leaves them to another, as if it
        had died before sending the XACK."""
        args: list[Any] = ["XREADGROUP", "GROUP", WORK_GROUP, self.name]
        args += ["COUNT", self.settings.batch]
        if block_ms is not None:
            args += ["BLOCK", block_ms]
        args += ["STREAMS", self.keys.work(), ">"]
        steps: list[Command] = [Command(tuple(args))]
        unacked = list(self._unacked)
        if unacked:
            steps.append(cmd("XACK", self.keys.work(), WORK_GROUP, *unacked))
        if feed:
            steps.append(self.view.feed_step())
        # raw: the entries' fields made dicts only where read (`view.stream_entries`)
        replies: list[Any] = self.direct.execute(Batch(tuple(steps)), raw=True)
        del self._unacked[: len(unacked)]
        return replies

    def ack(self) -> None:
        """Acknowledge the work items carried out now (not with the next round's read)."""
        if self._unacked:
            ids = list(self._unacked)
            self.redis.xack(self.keys.work(), WORK_GROUP, *ids)
            del self._unacked[: len(ids)]

    def flush(self, sync: bool = True) -> bool:
        """Carry out the batch under way (its reservations' replies: lost races decided
        again, waits enqueued), mark its work items for acknowledgement and sync the view
        (``sync``; else the caller does). False if no batch was under way."""
        if self._inflight is None:
            return False
        routing, entry_ids = self._inflight
        self._inflight = None
        self.allocator.finish(routing)
        self._unacked += entry_ids
        if sync:
            self.view.sync()
        return True

    def handle(self, entries: list[tuple[str, dict[str, str]]], fresh: bool = True) -> None:
        """Allocate for a batch of work items; once carried out, they are acknowledged
        (with the next round's read: :meth:`step`).

        A request's item filed by ``submit`` carries the request's fields: it is decided
        from them without reading the request (``fresh`` items only: one taken over from a
        silent worker may be older than what that worker did, so its request is read). An
        item without them (a goal step, a move, an item of an older version) is read."""
        requests: dict[str, RoutingRequest | None] = {}
        agents: list[str] = []
        timeouts: list[str] = []
        reroutes: list[int] = []
        for _entry_id, fields in entries:
            kind, item = fields.get("kind"), fields.get("id", "")
            if kind == "request":
                carried = carried_request(fields) if fresh else None
                if item not in requests or carried is None:
                    requests[item] = carried  # any item without the fields: read it
            elif kind == "agent":
                agents.append(item)
            elif kind == "offer_timeout":
                timeouts.append(item)
            elif kind == "reroute":
                reroutes.append(int(item or 0))
            else:
                log.warning("unknown work item %r ignored", fields)
        self.stats.items += len(entries)
        allocator = self.allocator
        if requests and fresh and not (agents or timeouts or reroutes):
            self._route(entries, requests)
            return
        self.flush()
        if reroutes:
            allocator.reroute(max(reroutes))
        if timeouts:
            allocator.offer_timeouts(list(dict.fromkeys(timeouts)))
        if requests:
            allocator.route_requests(
                list(requests), {i: r for i, r in requests.items() if r is not None}
            )
        if agents:
            allocator.serve_agents(list(dict.fromkeys(agents)))
        self._unacked += [e[0] for e in entries]

    def _route(
        self, entries: list[tuple[str, dict[str, str]]], requests: dict[str, RoutingRequest | None]
    ) -> None:
        """A batch of requests only: decided now, on the view that already counts the batch
        under way; that batch is then carried out, and this one's reservations are sent
        without waiting when there are enough of them to keep Redis busy while the worker
        decides the next batch (``pipeline_min``); a smaller batch is carried out at once."""
        allocator = self.allocator
        routing = allocator.decide_requests(
            list(requests), {i: r for i, r in requests.items() if r is not None}
        )
        offers = sum(1 for d in routing.decisions if d.outcome == "offer")
        pipelined = offers >= self.settings.pipeline_min and not self._stopping
        if pipelined and self._inflight is not None:
            allocator.prepare(routing)  # while Redis runs the batch under way
        # Pipelined, the feed is read with the next batch (one round trip, not two).
        flushed = self.flush(sync=not pipelined)
        if not pipelined:
            if flushed:
                allocator.recount(routing)
            allocator.finish(routing)
            self._unacked += [e[0] for e in entries]
            return
        # The next batch is read first: behind the reservations, Redis would answer the read
        # only once they all ran, and the worker would wait instead of deciding.
        replies = self._read(None, flushed)
        self._prefetched = _work(replies[0])
        if flushed and not self.view.settles(replies[-1]):
            self.view.sync(replies[-1], sent=True)  # more to read, or a strategy change
            flushed = False
            allocator.recount(routing)
        allocator.send(routing)
        self._inflight = (routing, [e[0] for e in entries])
        if flushed:
            # Read before these reservations were sent, the feed cannot hold their effects:
            # applied while Redis runs them, as if before (``WorkerView.settles``).
            self.view.sync(replies[-1], sent=True)
            allocator.recount(routing)


def _work(reply: Any) -> list[tuple[str, dict[str, str]]]:
    """The work items of a reply to the worker's XREADGROUP (any shape), fields as dicts."""
    return [(entry_id, pairs(fields)) for entry_id, fields in stream_entries(reply)]


def carried_request(fields: dict[str, str]) -> RoutingRequest | None:
    """The request a work item carries (``submit`` files its fields with it), or None when
    the item has none (or they do not parse: then the request is read from its hash)."""
    if "channel" not in fields:
        return None
    try:
        return RoutingRequest.from_hash(fields)
    except (KeyError, ValueError) as e:
        log.warning("work item %r: request fields unreadable (%s); reading the request", fields, e)
        return None


GC_YOUNG = 20_000
"""Container objects allocated (net of those freed) before the collector's youngest pass.
Python's default (700) is reached inside every round that decides a batch (each request's
work item, decision and trace are alive until the batch is carried out), so the passes ran
~30 times per 1,000 assignments and promoted the round's objects, whose older-generation
passes then rescanned the view's replaced agent states: ~22 us of CPU per assignment, 11-13%
of the worker's (BENCHMARKS.md, routing core, evening). The worker's garbage is freed by
reference counting (no cycles on the hot path); the collector still runs past this."""


def _freeze_heap() -> None:
    """Keep what start-up loaded (the agent view: ~60,000 objects for 10,000 agents) out of
    the garbage collector's full passes, each of which paused the worker ~10-25 ms, and let
    a round's short-lived objects die before a collection looks at them (``GC_YOUNG``).

    ``run`` then freezes what each round leaves alive (``gc.freeze()``: a constant-time
    move, ~0.2 us): the agent states that replace the view's frozen ones are long-lived, and
    left in the youngest generation they piled up to GC_YOUNG, whose pass then paused the
    worker 12-23 ms every ~3 s at 1,000 requests/s - the requests arriving meanwhile made
    the offer latency's 99th percentile (BENCHMARKS.md, routing core, night). Frozen objects
    are still freed by reference counting; only garbage in reference cycles waits for
    :func:`_collect_cycles` (the worker's rounds make none: measured, 0 found after 3,000)."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG, older, oldest)


def _collect_cycles() -> int:
    """The collector's full pass over everything (``WorkerSettings.cycle_collect_interval_s``):
    garbage in reference cycles that rounds froze (an exception kept with its traceback on
    a rare error path, say) is freed here rather than kept for good. One pause of ~50 ms
    with 10,000 agents per interval. Returns the objects found unreachable."""
    gc.unfreeze()
    found = gc.collect()
    gc.freeze()
    if found:
        log.info("freed %d objects in reference cycles", found)
    return found
