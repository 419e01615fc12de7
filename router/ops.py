"""Sans-I/O building blocks of the router client.

Every client operation is written once, as a generator that yields Redis work - a
:class:`Script` call, a raw :class:`Command`, or a :class:`Batch` of them sent as one
pipeline - and receives the replies. :mod:`router.client` drives the same generators
with redis-py (sync) or redis.asyncio (async), so the two clients cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Script:
    """Run a Lua script from :mod:`router.scripts` with its own arguments ``args`` (ARGV[3]
    on, after the key prefix and now); the driver builds its KEYS from them as the script's
    header declares (:func:`router.scripts.keys_for`)."""

    name: str
    args: tuple[Any, ...]


@dataclass(frozen=True)
class Command:
    args: tuple[Any, ...]


@dataclass(frozen=True)
class Batch:
    """Several scripts/commands in one pipeline; the reply is the list of their replies."""

    items: tuple[Script | Command, ...]


Step = Script | Command | Batch
Op = Generator[Step, Any, T]


def cmd(*args: Any) -> Command:
    return Command(args)


def run_sync(op: Op[T], execute: Callable[[Step], Any]) -> T:
    """Drive ``op`` to its result, executing each step with ``execute``."""
    try:
        step = next(op)
        while True:
            step = op.send(execute(step))
    except StopIteration as done:
        return done.value


def pairs(flat: list[str] | dict[str, str] | None) -> dict[str, str]:
    """A hash reply as a dict (redis-py already maps some replies; Lua returns flat lists)."""
    if not flat:
        return {}
    if isinstance(flat, dict):
        return flat
    it = iter(flat)  # pairs of one iterator: no two slices copied
    return dict(zip(it, it, strict=True))


def flatten(steps: Sequence[Step]) -> tuple[list[Script | Command], list[tuple[int, int]]]:
    """The steps' scripts and commands in one list (for one pipeline), and each step's
    (start, length) span in it, for :func:`regroup`."""
    items: list[Script | Command] = []
    spans: list[tuple[int, int]] = []
    for step in steps:
        part = step.items if isinstance(step, Batch) else (step,)
        spans.append((len(items), len(part)))
        items.extend(part)
    return items, spans


def regroup(steps: Sequence[Step], spans: list[tuple[int, int]], replies: list[Any]) -> list[Any]:
    """Per step, from a pipeline's replies to :func:`flatten`'s items: its reply, a batch's
    list of replies, or the first exception among them."""
    out: list[Any] = []
    for step, (start, n) in zip(steps, spans, strict=True):
        part = replies[start : start + n]
        if isinstance(step, Batch):
            bad = next((r for r in part if isinstance(r, Exception)), None)
            out.append(bad if bad is not None else part)
        else:
            out.append(part[0])
    return out
