"""One call at a time, many calls at once.

AMI events and router commands about the same call must be handled in the order they
came (a caller's hang-up after the ring command, not before it), but a slow action on
one call must not hold up the others. `Serial` runs the jobs of one key (a call id) one
after another, in submission order, and different keys concurrently.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable

log = logging.getLogger("implus.ami_bridge")

Job = Callable[[], Awaitable[None]]


class Slots:
    """At most `limit` holders at once, the others wait in FIFO order.

    asyncio.Semaphore does the same, but Python 3.11's scans every waiter on each
    `acquire` while a released slot is on its way to the next waiter (`locked()`): with
    hundreds of calls waiting - an overload, a burst - each new job then costs time in
    proportion to the queue, just when the bridge has least to spare. Here a released
    slot goes straight to the first waiter, and nothing is ever scanned."""

    def __init__(self, limit: int) -> None:
        self.free = limit
        self._waiters: deque[asyncio.Future[None]] = deque()

    async def acquire(self) -> None:
        if self.free > 0 and not self._waiters:
            self.free -= 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed a slot as it was cancelled: pass it on
            raise  # a cancelled waiter left in the deque is skipped by release()

    def release(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes to it (`free` unchanged)
                return
        self.free += 1

    def waiting(self) -> int:
        return len(self._waiters)


class Serial:
    """Per-key FIFO job runner on the running loop; at most `limit` jobs run at once (a
    burst of calls must not open more Redis connections than the pool has)."""

    def __init__(self, limit: int = 64) -> None:
        self._queues: dict[str, deque[tuple[Job, asyncio.Future[None]]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._slots = Slots(limit)

    def submit(self, key: str, job: Job) -> asyncio.Future[None]:
        """Queue `job` after the other jobs of `key`; the future resolves when it ran
        (with its exception, which is also logged - one bad call never stops the rest)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._queues.get(key)
        if queue is not None:
            queue.append((job, done))
            return done
        self._queues[key] = deque([(job, done)])
        task = asyncio.get_running_loop().create_task(self._run(key))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return done

    async def _run(self, key: str) -> None:
        queue = self._queues[key]
        try:
            while queue:
                job, done = queue[0]
                try:
                    await self._slots.acquire()
                    try:
                        await job()
                    finally:
                        self._slots.release()
                except asyncio.CancelledError:
                    raise
                except Exception as e:
                    log.exception("handling %s failed", key)
                    if not done.done():
                        done.set_exception(e)
                        done.exception()  # retrieved: nobody has to await it
                else:
                    if not done.done():
                        done.set_result(None)
                queue.popleft()
        finally:
            del self._queues[key]

    def queued(self, key: str) -> bool:
        """Has `key` a job queued or running?"""
        return key in self._queues

    def busy(self) -> int:
        """Keys with jobs queued or running."""
        return len(self._queues)

    async def idle(self) -> None:
        """Wait until every queued job ran."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
