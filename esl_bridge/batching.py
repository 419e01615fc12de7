"""Router round trips shared by the calls of one gevent loop iteration.

Every call runs its flow in its own greenlet, and each flow step waits for one Redis round
trip. When several calls reach Redis at the same moment (a burst of events read from
FreeSWITCH in one socket read, the deferred writes of several calls flushed together, a
backlog of router commands) their steps go out in ONE pipeline: one connection checkout,
one write, one read, one wake-up instead of one each. Order is kept where it matters: a
call's next step is only asked for after its previous one answered, and a pipeline runs
its commands in order on one connection.

    batcher = TickBatcher(router_client)
    result = batcher.run(op)        # from any greenlet; blocks only that greenlet
"""

from __future__ import annotations

from typing import Any, TypeVar

import gevent
import gevent.event

from router.client import RouterClient
from router.ops import Op, Step

T = TypeVar("T")


class TickBatcher:
    """Runs router operations for many greenlets, their concurrent steps in one pipeline."""

    def __init__(self, client: RouterClient) -> None:
        self.client = client
        self._pending: list[tuple[Step, gevent.event.AsyncResult]] = []
        self._flusher: gevent.Greenlet | None = None
        self.round_trips = 0
        """Pipelines sent (for tests and the benchmark's curiosity)."""
        self.steps = 0
        """Steps sent in them."""

    def run(self, op: Op[T]) -> T:
        """Drive `op` to its result; RouterUnavailable if Redis cannot be reached."""
        return self.client.run(op, self.execute)

    def execute(self, step: Step) -> Any:
        """One step's reply, sent with every step asked for in this loop iteration."""
        if self.client.wants_confirmation(step):
            return self.client.execute(step)  # its WAIT would hold up everyone else's
        result = gevent.event.AsyncResult()
        self._pending.append((step, result))
        if self._flusher is None:
            # Spawned greenlets start in the order they were spawned, after the ones that
            # are already runnable: every call that runs in this iteration adds its step
            # before the flusher takes them.
            self._flusher = gevent.spawn(self._flush)
        return result.get()

    def _flush(self) -> None:
        batch, self._pending = self._pending, []
        self._flusher = None
        self.round_trips += 1
        self.steps += len(batch)
        if len(batch) == 1:
            step, result = batch[0]
            try:
                result.set(self.client.run(_one(step)))
            except BaseException as e:  # the waiting greenlet raises it
                result.set_exception(e)
            return
        try:
            replies = self.client.execute_many([step for step, _ in batch])
        except BaseException as e:
            for _, result in batch:
                result.set_exception(e)
            return
        for (_, result), reply in zip(batch, replies, strict=True):
            if isinstance(reply, BaseException):
                result.set_exception(reply)
            else:
                result.set(reply)


def _one(step: Step) -> Op[Any]:
    return (yield step)
