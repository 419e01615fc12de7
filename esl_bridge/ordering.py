"""Work in order per key, keys side by side: each call's events are handled one after the
other, while a call that waits on Redis or FreeSWITCH does not hold up the others."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Mapping
from typing import Generic, TypeVar

import gevent
import gevent.event

log = logging.getLogger(__name__)

T = TypeVar("T")


class PerKey(Generic[T]):
    """`submit(key, item)` runs `handle(item)` after every earlier item of the same key, in a
    greenlet of that key (started on demand, gone when its queue is empty)."""

    def __init__(self, handle: Callable[[T], None]) -> None:
        self.handle = handle
        self._queues: dict[str, deque[T]] = {}

    def submit(self, key: str, item: T) -> None:
        queue = self._queues.get(key)
        if queue is not None:
            queue.append(item)
            return
        queue = self._queues[key] = deque([item])
        gevent.spawn(self._drain, key, queue)

    def _drain(self, key: str, queue: deque[T]) -> None:
        try:
            while queue:
                item = queue.popleft()
                try:
                    self.handle(item)
                except Exception:
                    log.exception("handling %r failed", item)
        finally:
            # No greenlet switch since the last `while queue` check: nothing was added.
            if self._queues.get(key) is queue:
                del self._queues[key]

    def run_idle(self, keys: list[str], work: Callable[[list[str]], None]) -> list[str]:
        """Run `work(idle)` in this greenlet for those of `keys` with nothing queued or
        running, as their turn: what is submitted for them meanwhile waits behind it. The
        busy keys are returned (their own greenlet is running)."""
        idle = [k for k in keys if k not in self._queues]
        held: dict[str, deque[T]] = {k: deque() for k in idle}
        self._queues.update(held)
        try:
            if idle:
                work(idle)
        finally:
            for key, queue in held.items():
                if queue:
                    gevent.spawn(self._drain, key, queue)
                elif self._queues.get(key) is queue:
                    del self._queues[key]
        return [k for k in keys if k not in held]

    def busy(self, key: str) -> bool:
        """True while an item of `key` is queued or being handled."""
        return key in self._queues

    def __len__(self) -> int:
        return len(self._queues)


def run_and_wait(
    per_key: PerKey[Callable[[], None]], jobs: Mapping[str, Callable[[], None]], timeout: float
) -> bool:
    """Submit each job under its key (after that key's earlier work) and wait until all
    have run, at most `timeout` seconds. True if all ran in time."""
    done = gevent.event.Event()
    left = len(jobs)
    if not left:
        return True

    def counted(job: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            nonlocal left
            try:
                job()
            finally:
                left -= 1
                if left == 0:
                    done.set()

        return run

    for key, job in jobs.items():
        per_key.submit(key, counted(job))
    return done.wait(timeout)
