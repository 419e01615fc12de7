"""What ended flows leave (call records, transcript entries, router-command
acknowledgements): written with the call's next router step or, after `window` seconds,
every idle call's leftovers in ONE round trip, as that call's turn."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import gevent.event
import redis

from callflow.drive import Deferred
from esl_bridge.batching import TickBatcher
from esl_bridge.ordering import PerKey
from router.errors import RouterError

log = logging.getLogger(__name__)


class Leftovers:
    """The bridge's deferred writes, and the router commands whose acknowledgement waits in
    them: such a command stays in flight (`inflight`) until its acknowledgement is sent, so
    a re-read of the command backlog meanwhile does not run it twice."""

    def __init__(
        self, ctx: Any, batcher: TickBatcher, calls: PerKey[Callable[[], None]], window: float
    ) -> None:
        self.ctx = ctx
        self.batcher = batcher
        self.calls = calls
        self.window = window
        self.deferred = Deferred()
        self._wake = gevent.event.Event()
        self.deferred.on_add = self._wake.set
        self.deferred.on_take = self._acks_taken
        self.inflight: set[str] = set()
        """Router commands taken and not acknowledged yet."""
        self._acks: dict[str, list[str]] = {}
        """Per call: commands whose acknowledgement waits in `deferred`."""

    def ack_later(self, key: str, delivery_id: str, ack_step: Any) -> None:
        """Acknowledge command `delivery_id` with call `key`'s next router step (or the
        leftovers' round trip); it stays in flight until then."""
        self._acks.setdefault(key, []).append(delivery_id)
        self.deferred.add(key, [ack_step], [])

    def loop(self, stop: gevent.event.Event) -> None:
        """Until `stop`: once leftovers wait, give them `window` for their call's next
        step, then write every idle call's in ONE round trip. A busy call's go with its
        running flow's next router step, or in the next round."""
        while not stop.is_set():
            self._wake.wait()
            self._wake.clear()
            if stop.wait(self.window):
                return
            busy = self.calls.run_idle(self.deferred.pending_keys(), self._write_many)
            if busy:
                self._wake.set()

    def write_all(self) -> None:
        """Write every call's leftovers now, one call at a time (at shutdown)."""
        for key in self.deferred.pending_keys():
            try:
                self.batcher.run(self.deferred.op(self.ctx, key))
            except (RouterError, redis.RedisError) as e:
                log.error("writing call records / transcript entries failed: %s", e)

    def _write_many(self, keys: list[str]) -> None:
        results = self.batcher.run_all([self.deferred.op(self.ctx, key) for key in keys])
        for key, result in zip(keys, results, strict=True):
            if isinstance(result, (RouterError, redis.RedisError)):
                log.error("writing call records / transcript entries of %s failed: %s", key, result)
            elif isinstance(result, Exception):
                log.error("writing the leftovers of %s failed: %r", key, result)

    def _acks_taken(self, key: str) -> None:
        for delivery_id in self._acks.pop(key, ()):
            self.inflight.discard(delivery_id)
