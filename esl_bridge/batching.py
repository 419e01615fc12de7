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
    """Runs router operations for many greenlets, their concurrent steps in one pipeline.

    The first greenlet to ask in a loop iteration leads: it yields once (`gevent.sleep(0)`),
    so every other greenlet that runs in this iteration adds its step to the leader's batch,
    then sends the batch and hands each follower its reply. No greenlet is spawned for it,
    and a step with nobody to share with costs one yield more than going alone.
    """

    def __init__(self, client: RouterClient) -> None:
        self.client = client
        self._open: list[tuple[Step, gevent.event.AsyncResult]] | None = None
        self.round_trips = 0
        """Round trips made (for tests and the benchmark's curiosity)."""
        self.steps = 0
        """Steps sent in them."""

    def run(self, op: Op[T]) -> T:
        """Drive `op` to its result; RouterUnavailable if Redis cannot be reached."""
        return self.client.run(op, self.execute)

    def execute(self, step: Step) -> Any:
        """One step's reply, sent with every step asked for in this loop iteration."""
        client = self.client
        if client.wants_confirmation(step):
            return client.execute(step)  # its WAIT would hold up everyone else's
        batch = self._open
        if batch is not None:  # a leader is collecting this iteration's steps
            result = gevent.event.AsyncResult()
            batch.append((step, result))
            return result.get()
        batch = self._open = []
        try:
            gevent.sleep(0)
        except BaseException as e:  # killed while collecting: the followers must not hang
            self._open = None
            _fail(batch, e)
            raise
        self._open = None
        self.round_trips += 1
        self.steps += 1 + len(batch)
        if not batch:
            return client.execute(step)
        try:
            replies = client.execute_many([step, *(s for s, _ in batch)])
        except BaseException as e:
            _fail(batch, e)
            raise
        for (_, result), reply in zip(batch, replies[1:], strict=True):
            if isinstance(reply, BaseException):
                result.set_exception(reply)
            else:
                result.set(reply)
        if isinstance(replies[0], BaseException):
            raise replies[0]
        return replies[0]


def _fail(batch: list[tuple[Step, gevent.event.AsyncResult]], error: BaseException) -> None:
    for _, result in batch:
        if not result.ready():
            result.set_exception(error)
