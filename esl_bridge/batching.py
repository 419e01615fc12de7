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
from gevent.hub import get_hub

from router.client import RouterClient
from router.direct import DirectPipeline
from router.ops import Op, Step

T = TypeVar("T")


class TickBatcher:
    """Runs router operations for many greenlets, their concurrent steps in one pipeline.

    The first greenlet to ask in a loop iteration leads: it yields once (`gevent.sleep(0)`;
    not when no other greenlet is due to run before the next wait for I/O), so every other
    greenlet that runs in this iteration adds its step to the leader's batch,
    then sends the batch and hands each follower its reply. No greenlet is spawned for it,
    and a step with nobody due to share with goes at once, as if alone.
    """

    def __init__(self, client: RouterClient, direct: DirectPipeline | None = None) -> None:
        self.client = client
        self.direct = direct
        """Connections held for these pipelines (None: the client's pool each time)."""
        self._open: list[tuple[Step, gevent.event.AsyncResult]] | None = None
        self.round_trips = 0
        """Round trips made (for tests and the benchmark's curiosity)."""
        self.steps = 0
        """Steps sent in them."""

    def run(self, op: Op[T]) -> T:
        """Drive `op` to its result; RouterUnavailable if Redis cannot be reached."""
        return self.client.run(op, self.execute)

    def run_all(self, ops: list[Op[Any]]) -> list[Any]:
        """Drive several independent `ops` from this greenlet, their steps side by side:
        each round, the next step of every unfinished op goes out in ONE pipeline (those
        waiting for the replicas' acknowledgement alone). Per op: its result, or the
        exception it ended with - one op's failure does not hide the others'."""
        results: list[Any] = [None] * len(ops)
        pending: dict[int, Step] = {}
        for i, op in enumerate(ops):
            _advance(op, i, None, None, pending, results, start=True)
        client = self.client
        while pending:
            order = list(pending)
            alone = [i for i in order if client.wants_confirmation(pending[i])]
            shared = [i for i in order if i not in alone]
            replies: dict[int, Any] = {}
            for i in alone:
                try:
                    replies[i] = client.execute(pending[i])
                except Exception as e:
                    replies[i] = e
            if shared:
                self.round_trips += 1
                self.steps += len(shared)
                for i, reply in zip(
                    shared, self._execute_many([pending[i] for i in shared]), strict=True
                ):
                    replies[i] = reply
            for i in order:
                reply = replies[i]
                if isinstance(reply, BaseException):
                    _advance(ops[i], i, None, reply, pending, results)
                else:
                    _advance(ops[i], i, reply, None, pending, results)
        return results

    def _execute_many(self, steps: list[Step]) -> list[Any]:
        direct = self.direct
        replies = direct.execute_many(steps) if direct is not None else None
        return self.client.execute_many(steps) if replies is None else replies

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
            if _others_run_first():
                gevent.sleep(0)
        except BaseException as e:  # killed while collecting: the followers must not hang
            self._open = None
            _fail(batch, e)
            raise
        self._open = None
        self.round_trips += 1
        self.steps += 1 + len(batch)
        if not batch:
            if self.direct is None:
                return client.execute(step)
            reply = self._execute_many([step])[0]
            if isinstance(reply, BaseException):
                raise reply
            return reply
        try:
            replies = self._execute_many([step, *(s for s, _ in batch)])
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


def _others_run_first() -> bool:
    """Will another greenlet run before the hub waits for I/O again (a callback queued, a
    watcher that fired and is not handled yet)? Only such a greenlet could join this
    iteration's batch: with none, waiting for them is a switch to the hub and back for
    nothing (~5 of a routed call's round trips at 10 calls/s). Reads gevent's loop, libev's
    and libuv's alike (`_callbacks` is not public: without it the leader always waits)."""
    loop = get_hub().loop
    return bool(getattr(loop, "pendingcnt", 1) or getattr(loop, "_callbacks", True))


def _fail(batch: list[tuple[Step, gevent.event.AsyncResult]], error: BaseException) -> None:
    for _, result in batch:
        if not result.ready():
            result.set_exception(error)


def _advance(
    op: Op[Any],
    i: int,
    reply: Any,
    error: BaseException | None,
    pending: dict[int, Step],
    results: list[Any],
    *,
    start: bool = False,
) -> None:
    """Start op `i` (`start`), or give it its reply or error: its next step goes to
    `pending`, its result (or the exception it ended with) to `results`."""
    try:
        if start:
            pending[i] = next(op)
        elif error is not None:
            pending[i] = op.throw(error)
        else:
            pending[i] = op.send(reply)
    except StopIteration as done:
        pending.pop(i, None)
        results[i] = done.value
    except Exception as e:
        pending.pop(i, None)
        results[i] = e
