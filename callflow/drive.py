"""Running call flows: the steps they yield become router round trips and PBX intents.

`Stepper` holds everything about running a flow that does not depend on the concurrency
model: it collects the call book's writes and the transcript entries and sends them in
the same round trip as the next router operation, in front of it - so whoever sees the
router's change (a contact closed) finds the hang-up in the transcript, and a record is
written before the router or the PBX acts on it. Writes wait for no router operation
when a PBX intent comes first: they go out before it. `run_sync` (gevent, the ESL bridge)
and `run_async` (asyncio, the AMI bridge) are the two thin loops around it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import redis.exceptions

from router.errors import RouterError, RouterUnavailable
from router.ops import Op, Step

from .context import FlowContext
from .intents import Intent
from .steps import Ask, Do, Drop, Flow, Note, Save, Touch, captured, step, together
from .transcript import report_notes

log = logging.getLogger("implus.callflow")


@dataclass(frozen=True)
class Need:
    """What the flow waits for: the result of a router `op`, or of a PBX `intent`."""

    op: Op[Any] | None = None
    intent: Intent | None = None


class Deferred:
    """What flows of a call left to write when they ended (record writes, transcript
    entries, command acknowledgements), per call: it goes in front of the next router
    operation of the next flow of the same call, or - if none comes soon - out on its own,
    in that call's queue too (the bridge's flusher queues `op(key)` there). So every entry
    is written before any router change asked for after it, and a call's next step often
    carries the previous step's leftovers for free."""

    def __init__(self) -> None:
        self._items: dict[str, tuple[list[Step], list[Note]]] = {}
        self.on_add: Callable[[], None] = lambda: None
        self.on_take: Callable[[str], None] = lambda _key: None
        """Called with a key whose items were just taken (to be sent now)."""

    def __bool__(self) -> bool:
        return bool(self._items)

    def pending_keys(self) -> list[str]:
        return list(self._items)

    def add(self, key: str, writes: list[Step], notes: list[Note]) -> None:
        if not writes and not notes:
            return
        queued = self._items.setdefault(key, ([], []))
        queued[0].extend(writes)
        queued[1].extend(notes)
        self.on_add()

    def take(self, key: str) -> tuple[list[Step], list[Note]]:
        items = self._items.pop(key, None)
        if items is None:
            return [], []
        self.on_take(key)
        return items

    def op(self, ctx: FlowContext, key: str) -> Op[Any]:
        """Everything deferred for `key`, as one op (run in that call's queue)."""
        writes, notes = self.take(key)
        return pending_op(ctx, writes, notes, None)


def pending_op(
    ctx: FlowContext, writes: list[Step], notes: list[Note], op: Op[Any] | None
) -> Op[Any]:
    """`writes`, then `notes` appended, then `op`, in one round trip; `op`'s result (an
    entry that cannot be written is logged)."""
    appends = [captured(ctx.ops.append(n.session, n.entry, cmid=n.cmid)) for n in notes]
    ops = [*(step(w) for w in writes), *appends, *([op] if op is not None else [])]
    if len(ops) == 1 and op is not None:
        return op
    return _reporting(together(*ops), notes, len(writes), op is not None)


class Stepper:
    """One running flow, between the flow and a driver loop."""

    def __init__(
        self, flow: Flow, ctx: FlowContext, deferred: Deferred | None = None, key: str = ""
    ) -> None:
        self.flow = flow
        self.ctx = ctx
        self.deferred = deferred
        self.key = key
        self._writes: list[Step] = []
        self._notes: list[Note] = []
        self._intent: Intent | None = None
        """A PBX intent waiting for the book's writes to be sent first."""
        self._flushing = False

    def start(self) -> Need | None:
        return self._advance(None, None)

    def sent(self, result: Any) -> Need | None:
        """The result of the last `Need`; returns the next one (None: the flow is done)."""
        if self._flushing:
            self._flushing = False
            if self._intent is not None:
                intent, self._intent = self._intent, None
                return Need(intent=intent)
            return None
        return self._advance(result, None)

    def failed(self, error: BaseException) -> Need | None:
        """The router op of the last `Need` failed: the flow gets a `RouterError`."""
        if self._flushing:
            raise error  # the book could not be written: do not act on the PBX
        if not isinstance(error, RouterError):
            error = RouterUnavailable(f"Redis error: {error}")
        return self._advance(None, error)

    def _advance(self, reply: Any, error: BaseException | None) -> Need | None:
        while True:
            try:
                s = self.flow.throw(error) if error is not None else self.flow.send(reply)
            except StopIteration:
                if self.deferred is not None:
                    self.deferred.add(self.key, self._writes, self._notes)
                    self._writes, self._notes = [], []
                    return None
                return self._flush(None)
            reply, error = None, None
            if isinstance(s, Save):
                self._writes.append(self.ctx.book.save_step(s.call, self.ctx.now()))
            elif isinstance(s, Drop):
                self._writes.append(self.ctx.book.drop_step(s.call))
            elif isinstance(s, Touch):
                self.ctx.book.index(s.call)
            elif isinstance(s, Note):
                self._notes.append(s)
            elif isinstance(s, Ask):
                return Need(op=self._with_pending(s.op))
            elif isinstance(s, Do):
                flush = self._flush(s.intent)
                return flush or Need(intent=s.intent)

    def _flush(self, intent: Intent | None) -> Need | None:
        """Send what is pending before a PBX intent (`intent`) or at the flow's end (None):
        at the end everything; before an intent the writes (and the notes with them)."""
        if not self._writes and (intent is not None or not self._notes):
            return None
        self._intent = intent
        self._flushing = True
        return Need(op=self._with_pending(None))

    def _with_pending(self, op: Op[Any] | None) -> Op[Any]:
        """What earlier flows of this call deferred, then this flow's pending writes and
        transcript entries, then `op`, in one round trip; `op`'s result."""
        writes, notes = self.deferred.take(self.key) if self.deferred is not None else ([], [])
        writes += self._writes
        notes += self._notes
        self._writes, self._notes = [], []
        return pending_op(self.ctx, writes, notes, op)


def _reporting(combined: Op[list[Any]], notes: list[Note], first: int, has_op: bool) -> Op[Any]:
    """`combined`'s last result (the op's), after logging the entries it could not write."""
    results = yield from combined
    report_notes(notes, results[first : first + len(notes)])
    return results[-1] if has_op else None


ROUTER_ERRORS = (RouterError, redis.exceptions.RedisError)


def run_sync(
    flow: Flow,
    ctx: FlowContext,
    run_op: Callable[[Op[Any]], Any],
    execute: Callable[[Intent], Any],
    deferred: Deferred | None = None,
    key: str = "",
) -> None:
    """Run `flow` (of the call queued under `key`) to its end in this thread/greenlet. A
    PBX that cannot be reached (`PbxUnavailable`) stops it and propagates."""
    stepper = Stepper(flow, ctx, deferred, key)
    need = stepper.start()
    while need is not None:
        if need.op is not None:
            try:
                result = run_op(need.op)
            except ROUTER_ERRORS as e:
                need = stepper.failed(e)
                continue
            need = stepper.sent(result)
        else:
            assert need.intent is not None
            need = stepper.sent(execute(need.intent))


async def run_async(
    flow: Flow,
    ctx: FlowContext,
    run_op: Callable[[Op[Any]], Awaitable[Any]],
    execute: Callable[[Intent], Awaitable[Any]],
    deferred: Deferred | None = None,
    key: str = "",
) -> None:
    """`run_sync` for asyncio."""
    stepper = Stepper(flow, ctx, deferred, key)
    need = stepper.start()
    while need is not None:
        if need.op is not None:
            try:
                result = await run_op(need.op)
            except ROUTER_ERRORS as e:
                need = stepper.failed(e)
                continue
            need = stepper.sent(result)
        else:
            assert need.intent is not None
            need = stepper.sent(await execute(need.intent))
