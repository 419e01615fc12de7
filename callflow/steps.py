"""The steps a call flow yields, and the router-operation combinators the drivers use.

The call flow (`callflow.inbound`, `callflow.outbound`, `callflow.reconcile`) is written
once, I/O-free, as generators - the same idea as the router client's sans-I/O operations
(`router.ops`). A flow yields:

- `Ask(op)`: run a router operation (a `router.ops` generator); its result is sent back,
  a router failure is thrown in as `RouterError`;
- `Do(intent)`: ask the PBX (`callflow.intents`); the bridge's answer is sent back;
- `Save(call)` / `Drop(call)`: write / delete the call's record (sent to Redis in the same
  round trip as the next `Ask`, and always before the next `Do`);
- `Touch(call)`: index a change in memory only (not worth a Redis write on the busy path;
  reconciliation rebuilds it after a restart);
- `Note(...)`: a transcript entry, appended with the next router operation, in front of it.

`callflow.drive` runs flows with a sync (gevent) or an async (asyncio) router client.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

from router.ops import Batch, Op, Step

from .intents import Intent
from .records import Call


@dataclass(frozen=True)
class Ask:
    op: Op[Any]
    what: str


@dataclass(frozen=True)
class Do:
    intent: Intent


@dataclass(frozen=True)
class Save:
    call: Call


@dataclass(frozen=True)
class Drop:
    call: Call


@dataclass(frozen=True)
class Touch:
    call: Call


@dataclass(frozen=True)
class Note:
    session: str
    entry: dict[str, Any]
    cmid: str


FlowStep = Ask | Do | Save | Drop | Touch | Note
Flow = Generator[FlowStep, Any, Any]
"""A call-flow generator (its return value, if any, is documented where it is used)."""


def step(command: Step) -> Op[Any]:
    """A single raw step (e.g. the call book's HSET) as an op."""
    return (yield command)


def together(*ops: Op[Any]) -> Op[list[Any]]:
    """Run `ops` side by side: each round, the next step of every unfinished op goes out
    in one pipeline (Redis runs it in order, so earlier ops' steps still come first; an
    op's own batch is spliced in and gets its slice of the replies). Returns their
    results in order. An op's exception propagates once every op of that round got its
    reply."""
    results: list[Any] = [None] * len(ops)
    pending: dict[int, Step] = {}
    for i, op in enumerate(ops):
        try:
            pending[i] = next(op)
        except StopIteration as done:
            results[i] = done.value
    while pending:
        flat: list[Any] = []
        spans: list[tuple[int, int, int | None]] = []
        for i, s in pending.items():
            if isinstance(s, Batch):
                spans.append((i, len(flat), len(s.items)))
                flat.extend(s.items)
            else:
                spans.append((i, len(flat), None))
                flat.append(s)
        replies = yield Batch(tuple(flat))
        pending = {}
        failure: BaseException | None = None
        for i, start, count in spans:
            reply = replies[start] if count is None else list(replies[start : start + count])
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
