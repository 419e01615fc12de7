"""`implus reports sink`: follows the router's events stream into the reports database.

It reads through its own consumer group (``reports``) so it resumes where it stopped:
entries are acknowledged only after the transaction storing them commits, and a sink that
starts first takes over the entries left pending by the one before it (claimed, then
re-read; those already stored are skipped by :class:`reports.store.Store`). One sink per
routing domain writes at a time: it holds a lease in Redis, and a second one waits as a
standby until the lease lapses. Once a day it deletes what is past the retention.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import redis
import sqlalchemy as sa

from reports.errors import DatabaseUnavailable
from reports.events import id_key
from reports.keys import SINK_GROUP, sink_lock
from reports.retention import prune
from reports.store import Store
from router.errors import RouterError
from router.keys import Keys
from router.strategy import parse_strategy

log = logging.getLogger("implus.reports")

RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass(frozen=True)
class SinkSettings:
    batch: int = 5000
    """Most stream entries read and stored per transaction. A sink that keeps up reads
    what came since its last read; one behind reads this many at a time, paying the
    per-transaction round trips and commit once per this many (5,000 stores 1.4-2.4x
    what 1,000 does on a busy machine)."""
    block_ms: int = 1000
    consumer: str = "sink"
    lease_ms: int = 30_000
    """How long the writing sink's lease lasts without renewal (a standby's wait)."""
    retention_days: int = 400
    prune_every_s: float = 24 * 3600.0
    retry_s: float = 2.0
    """Pause after Redis or the database failed, before trying again."""


@dataclass
class SinkStats:
    read: int = 0
    stored: int = 0
    batches: int = 0
    pruned: int = 0


class Sink:
    """Moves events from Redis to the database; ``run()`` until ``stop()``."""

    def __init__(
        self,
        rds: redis.Redis,
        keys: Keys,
        store: Store,
        settings: SinkSettings | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis: Any = rds  # redis-py's reply types are too wide to be of use here
        self.keys = keys
        self.stream = keys.events()
        self.store = store
        self.settings = settings or SinkSettings()
        self.clock = clock
        self.stats = SinkStats()
        self.token = secrets.token_hex(8)
        self.holding = False
        self.backlog = True
        """Re-read this consumer's pending entries before new ones."""
        self.last_prune = 0.0
        self.stopping = threading.Event()
        self._renewed = 0.0

    # --- the lease -------------------------------------------------------------------

    def acquire(self) -> bool:
        """Take the writer's lease if nobody holds it; then claim every pending entry."""
        lock = sink_lock(self.keys)
        if not self.redis.set(lock, self.token, nx=True, px=self.settings.lease_ms):
            return False
        self.holding = True
        self._renewed = self.clock()
        try:
            self.store.claim_domain(self.keys.domain)
        except BaseException:
            self.release()
            raise
        version = self.redis.hget(self.keys.strategy(), "version")
        self.store.use_strategies(self.targets, int(version) if version else None)
        self.ensure_group()
        self.claim_pending()
        self.warn_about_gap()
        log.info("reports sink writing %s (consumer %s)", self.stream, self.settings.consumer)
        return True

    def renew(self) -> None:
        now = self.clock()
        if now - self._renewed < self.settings.lease_ms / 3000:
            return
        ok = self.redis.eval(RENEW, 1, sink_lock(self.keys), self.token, self.settings.lease_ms)
        if not ok:
            self.holding = False
            log.warning("reports sink lost its lease (another sink writes now); standing by")
            return
        self._renewed = now

    def release(self) -> None:
        if self.holding:
            self.redis.eval(RELEASE, 1, sink_lock(self.keys), self.token)
            self.holding = False

    def targets(self, version: int) -> dict[str, int] | None:
        """Service-level targets (ms per queue) of a strategy version the router keeps."""
        text = self.redis.hget(self.keys.strategy_versions(), str(version))
        if not text:
            return None
        try:
            strategy = parse_strategy(text, version)
        except RouterError:
            return None
        return {q: int(strategy.queue(q).service_level * 1000) for q in strategy.queue_names}

    # --- the stream ---------------------------------------------------------------------

    def ensure_group(self) -> None:
        """The consumer group, created at the start of the stream (everything still there
        is stored) if Redis does not have it."""
        try:
            self.redis.xgroup_create(self.stream, SINK_GROUP, id="0", mkstream=True)
        except redis.ResponseError as e:
            if "BUSYGROUP" not in str(e):
                raise
        self.backlog = True

    def claim_pending(self) -> None:
        """Take over entries another consumer read but did not acknowledge."""
        start = "0-0"
        while True:
            # Not JUSTID: redis-py drops the cursor from a JUSTID reply.
            reply = self.redis.xautoclaim(
                self.stream, SINK_GROUP, self.settings.consumer, 0, start, self.settings.batch
            )
            start = reply[0]
            if start in ("0-0", b"0-0"):
                break
        self.backlog = True

    def warn_about_gap(self) -> None:
        """Say so when entries were trimmed from the stream before the sink stored them."""
        last = self.store.last_id()
        first = self.redis.xrange(self.stream, count=1)
        if last and first and id_key(first[0][0]) > id_key(last):
            group: dict[str, Any] = next(
                (g for g in self.redis.xinfo_groups(self.stream) if g["name"] == SINK_GROUP), {}
            )
            delivered = str(group.get("last-delivered-id") or "0-0")
            if id_key(delivered) < id_key(first[0][0]):
                log.warning(
                    "events after %s were trimmed from %s before the sink stored them (the "
                    "stream keeps about 500,000): reports miss them. Keep the sink running.",
                    last,
                    self.stream,
                )

    def read(self, block_ms: int | None) -> list[tuple[str, Mapping[str, str] | None]]:
        """The next batch: this consumer's pending entries first, then new ones."""
        start = "0" if self.backlog else ">"
        try:
            reply = self.redis.xreadgroup(
                SINK_GROUP,
                self.settings.consumer,
                {self.stream: start},
                count=self.settings.batch,
                block=None if self.backlog else block_ms,
            )
        except redis.ResponseError as e:
            if "NOGROUP" not in str(e):
                raise
            log.warning("the %s group is gone (Redis restarted?): made again", SINK_GROUP)
            self.ensure_group()
            return []
        entries: list[Any] = reply[0][1] if reply else []
        if self.backlog and not entries:
            self.backlog = False
        return entries

    def step(self, block_ms: int | None = None) -> int:
        """Read one batch, store it, acknowledge it. Returns the entries read."""
        entries = self.read(self.settings.block_ms if block_ms is None else block_ms)
        if not entries:
            return 0
        try:
            stored = self.store.ingest(entries)
        except BaseException:
            self.backlog = True  # read again from this consumer's pending entries
            raise
        self.redis.xack(self.stream, SINK_GROUP, *[i for i, _f in entries])
        self.stats.read += len(entries)
        self.stats.stored += stored
        self.stats.batches += 1
        return len(entries)

    def drain(self) -> int:
        """Store everything the stream holds now (tests, benchmarks). Returns entries read."""
        total = 0
        while True:
            pending_first = self.backlog
            n = self.step(block_ms=1)
            total += n
            if not n and not pending_first:
                return total

    # --- the process -------------------------------------------------------------------

    def housekeeping(self) -> None:
        now = self.clock()
        if now - self.last_prune >= self.settings.prune_every_s:
            self.last_prune = now
            deleted = prune(self.store.engine, self.settings.retention_days, int(now * 1000))
            self.stats.pruned += sum(deleted.values())
            if any(deleted.values()):
                log.info(
                    "pruned rows older than %d days: %s", self.settings.retention_days, deleted
                )

    def run(self) -> None:
        """Follow the stream until stop(); Redis or database trouble is retried."""
        while not self.stopping.is_set():
            try:
                if not self.holding and not self.acquire():
                    self.stopping.wait(1.0)  # another sink writes: stand by
                    continue
                self.step()
                self.renew()
                self.housekeeping()
            except redis.RedisError as e:
                log.warning("Redis: %s; retrying in %.0f s", e, self.settings.retry_s)
                self.stopping.wait(self.settings.retry_s)
            except (DatabaseUnavailable, sa.exc.OperationalError, sa.exc.InterfaceError) as e:
                log.warning(
                    "reports database: %s; retrying in %.0f s",
                    _first_line(e),
                    self.settings.retry_s,
                )
                self.stopping.wait(self.settings.retry_s)
        with contextlib.suppress(redis.RedisError):  # the lease lapses by itself
            self.release()

    def stop(self) -> None:
        self.stopping.set()


def _first_line(e: Exception) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__
