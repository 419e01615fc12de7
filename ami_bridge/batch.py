"""Several router operations in one Redis round trip, and transcript entries in batches.

The router client writes every operation once as a sans-I/O generator (`router.ops`):
it yields Redis steps and receives their replies. `together()` drives several of those
generators at once, sending each round's steps as ONE pipeline - e.g. the call book's
write and the `submit` of a caller, or an `accept` and the book's update. Redis runs a
pipeline's commands in order, so the first step still happens before the second.

`TranscriptWriter` queues call events and appends them in pipelined batches from one
task: under load dozens of entries share a round trip, and their order is kept.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import redis.exceptions

from router.client import AsyncRouterClient
from router.errors import RouterError
from router.ops import Batch, Op, Step

log = logging.getLogger("implus.ami_bridge")


def step(command: Step) -> Op[Any]:
    """A single raw step (a `router.ops.Command`, e.g. the call book's HSET) as an op."""
    return (yield command)


def together(*ops: Op[Any]) -> Op[list[Any]]:
    """Run `ops` side by side: each round, the next step of every unfinished op goes out
    in one pipeline. Returns their results in order. An op's exception propagates once
    every op of that round got its reply."""
    results: list[Any] = [None] * len(ops)
    pending: dict[int, Step] = {}
    for i, op in enumerate(ops):
        try:
            pending[i] = next(op)
        except StopIteration as done:
            results[i] = done.value
    while pending:
        order = list(pending)
        replies = yield Batch(tuple(_flat(pending[i]) for i in order))
        pending = {}
        failure: BaseException | None = None
        for i, reply in zip(order, replies, strict=True):
            try:
                pending[i] = ops[i].send(reply)
            except StopIteration as done:
                results[i] = done.value
            except Exception as e:  # surfaced after the others got their replies
                failure = failure or e
        if failure is not None:
            raise failure
    return results


def captured(op: Op[Any]) -> Op[Any]:
    """`op`, with an exception it raises returned as its result instead (so one bad
    transcript entry does not hide the others of its batch)."""
    try:
        s = next(op)
    except StopIteration as done:
        return done.value
    except Exception as e:
        return e
    while True:
        reply = yield s
        try:
            s = op.send(reply)
        except StopIteration as done:
            return done.value
        except Exception as e:
            return e


def _flat(s: Step) -> Any:
    if isinstance(s, Batch):  # ops that batch themselves are not flattened into ours
        raise TypeError("together() takes ops whose steps are single scripts or commands")
    return s


class TranscriptWriter:
    """Appends call events to session transcripts in the background, in batches."""

    def __init__(self, router: AsyncRouterClient, max_batch: int = 200) -> None:
        self.router = router
        self.max_batch = max_batch
        self._queue: list[tuple[str, dict[str, Any], str]] = []
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="transcripts")

    def add(self, session: str, entry: Mapping[str, Any], cmid: str) -> None:
        self._queue.append((session, dict(entry), cmid))
        self._idle.clear()
        self._wake.set()

    async def drained(self) -> None:
        """Wait until everything added so far is written (or given up)."""
        await self._idle.wait()

    async def close(self) -> None:
        if self._task is not None:
            if self._queue:
                await asyncio.wait_for(self.drained(), 5)
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
                await self._write(batch)
            self._idle.set()

    async def _write(self, batch: list[tuple[str, dict[str, Any], str]]) -> None:
        ops = self.router.ops
        try:
            results = await self.router.run(
                together(*(captured(ops.append(s, e, cmid=c)) for s, e, c in batch))
            )
        except (RouterError, redis.exceptions.RedisError) as e:
            log.warning("%d transcript entries not written: %s", len(batch), e)
            return
        for (session, entry, _), result in zip(batch, results, strict=True):
            if isinstance(result, Exception):
                log.warning(
                    "transcript entry %s of %s not written: %s", entry["type"], session, result
                )
