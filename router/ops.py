"""Sans-I/O building blocks of the router client.

Every client operation is written once, as a generator that yields Redis work - a
:class:`Script` call, a raw :class:`Command`, or a :class:`Batch` of them sent as one
pipeline - and receives the replies. :mod:`router.client` drives the same generators
with redis-py (sync) or redis.asyncio (async), so the two clients cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
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
    return dict(zip(flat[::2], flat[1::2], strict=True))
