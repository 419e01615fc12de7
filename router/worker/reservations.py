"""The script calls a worker's decisions become: ``reserve_batch`` for offers, ``enqueue``
for requests that wait. Pure functions of the decisions, the strategy version and ``now``."""

from __future__ import annotations

import json
import os
from functools import lru_cache
from typing import Any

import orjson

from router.allocation import Decision, queue_score
from router.client import TRACE_TTL_S
from router.model import RoutingRequest
from router.ops import Batch, Script
from router.strategy import Plan

RESERVE_CHUNK = 64
"""Decisions per ``reserve_batch`` script call: one call's Redis time stays a few ms, so
other clients are not kept waiting behind a long batch."""

Pick = tuple[RoutingRequest, "Plan | None", str, dict[str, Any]]
"""A decision to reserve: the request, its plan, the agent, the trace."""

_json_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def _dumps(value: Any) -> bytes | str:
    """Compact JSON (read back by ``explain``; smaller to send and to store): orjson's (the
    same text as the json module's compact form for a trace's str keys, numbers, lists and
    strings, ~5x less CPU: a trace per reservation), json's for what orjson refuses."""
    try:
        return orjson.dumps(value)
    except TypeError:  # orjson.JSONEncodeError: e.g. a key that is not a str
        return _json_dumps(value)


_ids: list[str] = []
_ids_pid = [0]


def offer_id() -> str:
    """A new offer id: 32 random hex digits, as :func:`router.client.new_id`'s (uuid4's hex)
    but drawn from the OS 256 at a time (~0.3 us an id against ~2.5 us: one per reservation).
    A forked process draws its own (it must not hand out its parent's)."""
    if not _ids or _ids_pid[0] != os.getpid():
        _ids_pid[0] = os.getpid()
        text = os.urandom(16 * 256).hex()
        _ids[:] = [text[i : i + 32] for i in range(0, len(text), 32)]
    return _ids.pop()


@lru_cache(maxsize=1024)
def _queues_json(queues: tuple[str, ...]) -> bytes | str:
    """A plan's queues as JSON (a strategy has few distinct lists: encoded once each)."""
    return _dumps(list(queues))


def reserve_steps(picks: list[Pick], version: int, now: int) -> Batch:
    """One ``reserve_batch`` script call per RESERVE_CHUNK picks, in one batch."""
    return batch_of([decision_args(*pick, now) for pick in picks], version)


def batch_of(decisions: list[tuple[Any, ...]], version: int) -> Batch:
    """:func:`reserve_steps` of decisions whose :func:`decision_args` were made already (a
    worker makes them while Redis runs the batch before: ``Allocator.prepare``)."""
    steps = []
    for start in range(0, len(decisions), RESERVE_CHUNK):
        args: list[Any] = [version, TRACE_TTL_S]
        for one in decisions[start : start + RESERVE_CHUNK]:
            args += one
        steps.append(Script("reserve_batch", tuple(args)))
    return Batch(tuple(steps))


def decision_args(
    request: RoutingRequest,
    plan: Plan | None,
    agent_id: str,
    trace: dict[str, Any],
    now: int,
) -> tuple[Any, ...]:
    """One decision as ``reserve_batch`` takes it (9 values: request, agent, offer,
    deadline, queues, score, rule, goal step, trace)."""
    assert plan is not None
    return (
        request.id,
        agent_id,
        offer_id(),
        now + int(plan.offer_timeout * 1000),
        _queues_json(plan.queues),
        queue_score(request.created, plan.priority + request.priority),
        plan.rule,
        plan.step,
        _dumps(trace),
    )


def enqueue_step(d: Decision, version: int) -> Script:
    """The ``enqueue`` call that files a request deciding "wait" in its queues."""
    assert d.plan is not None
    return Script(
        "enqueue",
        (
            d.request.id,
            json.dumps(list(d.plan.queues)),
            d.score,
            d.plan.rule,
            d.plan.step,
            version,
            d.pinned,
            d.pinned_until,
            d.next_check,
            json.dumps(d.trace),
            TRACE_TTL_S,
        ),
    )
