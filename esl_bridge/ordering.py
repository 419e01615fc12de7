"""Work in order per key, keys side by side: each call's events are handled one after the
other, while a call that waits on Redis or FreeSWITCH does not hold up the others."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Mapping
from typing import Generic, TypeVar

import gevent
import gevent.event
from gevent.hub import Waiter, get_hub

log = logging.getLogger(__name__)

T = TypeVar("T")


class PerKey(Generic[T]):
    """`submit(key, item)` runs `handle(item)` after every earlier item of the same key, in a
    greenlet of that key (given one on demand, released when its queue is empty).

    The greenlets are workers kept for the next key (at most `spare` waiting): a call's
    events come one at a time, tens of ms apart, so nearly every event found its key idle
    and spawned a greenlet of its own (~5.5 per routed call). Waking a waiting worker is one
    loop callback and a switch, as starting a spawned greenlet is, without making one."""

    def __init__(self, handle: Callable[[T], None], spare: int = 32) -> None:
        self.handle = handle
        self.spare = spare
        self._queues: dict[str, deque[T]] = {}
        self._waiting: list[Waiter] = []
        self.spawned = 0
        """Workers made so far (the others were reused)."""

    def submit(self, key: str, item: T) -> None:
        queue = self._queues.get(key)
        if queue is not None:
            queue.append(item)
            return
        queue = self._queues[key] = deque([item])
        self._start(key, queue)

    def _start(self, key: str, queue: deque[T]) -> None:
        if self._waiting:
            # A worker waiting in `_work`; it starts in the loop's next callbacks, as a
            # spawned greenlet would (so keys still start in the order they were given).
            get_hub().loop.run_callback(self._waiting.pop().switch, (key, queue))
            return
        self.spawned += 1
        gevent.spawn(self._work, key, queue)

    def _work(self, key: str, queue: deque[T]) -> None:
        while True:
            self._drain(key, queue)
            if len(self._waiting) >= self.spare:
                return
            waiter = Waiter()
            self._waiting.append(waiter)
            try:
                key, queue = waiter.get()
            finally:  # killed while waiting: never handed a queue again
                if waiter in self._waiting:
                    self._waiting.remove(waiter)

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
                    self._start(key, queue)
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
