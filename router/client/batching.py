"""One Redis pipeline per event-loop tick for many concurrent operations (asyncio).

An asyncio process that drives many calls at once (the AMI bridge) has many router
operations ready in the same tick of its event loop: a burst of AMI events, each
handled in its own task, each awaiting one script or batch. Sent one by one, every one
pays a pipeline of its own - a pooled connection taken and given back, a write, a read
and a wake-up in this process, a read and a write in redis-server. `TickBatcher`
collects the steps submitted during one tick and sends them as ONE pipeline at the
start of the next, then gives each caller its own replies.

What a caller sees does not change: its step's replies, or the error its step raised (a
script Redis forgot is loaded and run again, alone); a connection error fails every step
of that pipeline, as it would have failed each alone. Steps go out in submission order,
so each caller's steps stay in its own order (a caller awaits one step before sending
the next). Without MULTI nothing is atomic across steps - nor was it before. Never for
blocking commands (XREADGROUP ... BLOCK): one would hold up the whole pipeline.

At most `max_in_flight` pipelines are under way at once: steps submitted while they are
wait for the first to come back and go out together then. An idle process sends at once;
a busy one - Redis or this process waiting for a core - sends fewer, bigger pipelines, and
every pipeline saved is a system call saved on both sides (on a loaded machine a loopback
send costs the sender ~0.1 ms of CPU: the receiver's TCP work is done in its context).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import redis.exceptions

from router.ops import Batch, Command, Script, Step

Sender = Callable[[Batch], Awaitable[list[Any]]]
"""Sends one batch as a pipeline; returns its replies, errors as values, in order."""


class TickBatcher:
    """Coalesces the steps of one loop tick into one pipeline (see the module doc)."""

    def __init__(self, send: Sender, max_in_flight: int = 1, timeout_s: float = 10.0) -> None:
        self._send = send
        self.max_in_flight = max_in_flight
        self.timeout_s = timeout_s
        """A pipeline that gets no reply this long fails (each step with a TimeoutError,
        which the router client reports as Redis unavailable): a half-open link must not
        hold up every later step behind it."""
        self._in_flight = 0
        self._pending: list[tuple[Step, asyncio.Future[Any]]] = []
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()
        self.pipelines = 0
        """Pipelines sent so far (steps / pipelines = how much was saved)."""
        self.steps = 0

    async def execute(self, step: Step) -> Any:
        """`step`'s reply (a Batch: the list of its replies), sent with this tick's others."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._pending.append((step, future))
        self._schedule()
        return await future

    def _schedule(self) -> None:
        if not self._scheduled and self._in_flight < self.max_in_flight:
            self._scheduled = True
            # Callbacks scheduled now run after every callback already ready this tick:
            # whatever those submit goes into the same pipeline.
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._scheduled = False
        if not self._pending or self._in_flight >= self.max_in_flight:
            return
        items, self._pending = self._pending, []
        self._in_flight += 1
        task = asyncio.get_running_loop().create_task(self._run(items))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, items: list[tuple[Step, asyncio.Future[Any]]]) -> None:
        try:
            await self._send_items(items)
        finally:
            self._in_flight -= 1
            if self._pending:  # what came meanwhile goes out now, together
                self._schedule()

    async def _send_items(self, items: list[tuple[Step, asyncio.Future[Any]]]) -> None:
        flat: list[Script | Command] = []
        spans: list[tuple[int, int]] = []
        for step, _ in items:
            parts = step.items if isinstance(step, Batch) else (step,)
            spans.append((len(flat), len(flat) + len(parts)))
            flat.extend(parts)
        self.pipelines += 1
        self.steps += len(items)
        try:
            try:
                replies = await asyncio.wait_for(self._send(Batch(tuple(flat))), self.timeout_s)
            except TimeoutError:
                raise redis.exceptions.TimeoutError(
                    f"Redis did not answer a pipeline of {len(flat)} commands within "
                    f"{self.timeout_s} s"
                ) from None
        except BaseException as e:  # the whole pipeline failed: so did each step
            for _, future in items:
                if not future.done():
                    future.set_exception(e)
            if not isinstance(e, Exception):
                raise
            return
        for (step, future), (start, end) in zip(items, spans, strict=True):
            if future.done():  # its caller was cancelled meanwhile
                continue
            if isinstance(step, Batch):
                part = replies[start:end]
                error = next((r for r in part if isinstance(r, Exception)), None)
                if error is None:
                    future.set_result(part)
                else:
                    future.set_exception(error)
            elif isinstance(replies[start], Exception):
                future.set_exception(replies[start])
            else:
                future.set_result(replies[start])

    async def close(self) -> None:
        """Wait for the pipelines under way."""
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
