"""The wall board's recent past, from the contacts the sink stores: per queue and channel,
the last 15 minutes and the last hour, and a point per minute over the last hour. Pure
functions of a database connection and ``now``.

Why the reports database and not the router's Redis statistics: the router keeps only the
answers of the last 15 minutes (``stats:<queue>:<channel>``, for the estimated wait), with
no abandons, overflows or history of the queue length, and growing that would add writes
to the routing path. The sink already stores every contact with when it came, when its
wait ended and how; so the board's figures are the reports' figures, over the same rows,
seconds behind the router (the sink's batch).

A contact counts in a window when its wait ended there (answered, abandoned or
overflowed), so contacts still waiting do not lower the service level before their time
is up. service_level = answered within the target / contacts whose wait ended. The queue
is the contact's queue in the reports (the first it waited in). Contacts created more than
``HORIZON_MS`` before now are left out (the board never scans the whole table).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from reports import schema as s

MINUTE_MS = 60_000
POINTS = 60
"""Points of the series: one per minute over the last hour."""
SL_WINDOW = 15
"""Minutes each point's service level looks back over (a rolling 15 minutes)."""
WINDOWS = {"15m": 15, "1h": 60}
"""The board's windows, in minutes back from now."""
HORIZON_MS = 6 * 3600 * 1000
"""Contacts created longer ago than this are not on the board (a 6-hour wait is rare;
the reports still count it)."""
ENDED_SUMS = ("answered", "answered_in_sl", "abandoned", "overflowed")


def _count(cond: Any) -> Any:
    return sa.cast(sa.func.sum(sa.case((cond, 1), else_=0)), sa.BigInteger)


def wait_end() -> Any:
    """SQL for when a contact's wait ended: answered, abandoned or overflowed; NULL while
    it waits (and for a contact that ended in some other way)."""
    c = s.contacts.c
    return sa.case(
        (c.accepted_at.is_not(None), c.accepted_at),
        (c.outcome.in_(("abandoned", "overflowed")), c.ended_at),
        else_=None,
    )


def recent(conn: Connection, now_ms: int, horizon_ms: int = HORIZON_MS) -> dict[str, Any]:
    """Per queue and channel: ``windows`` (``15m``, ``1h``: offered, answered, abandoned,
    overflowed, answered_in_sl, service_level) and ``series`` (``waiting`` at each point,
    ``service_level`` over the 15 minutes before it, ``answered`` and ``abandoned`` in the
    minute before it). ``points`` are the times (ms) of the series' points, the last one
    ``now_ms``. Queues with nothing in the hour are left out."""
    base = now_ms - POINTS * MINUTE_MS  # point k is at base + (k + 1) minutes
    early = base - SL_WINDOW * MINUTE_MS  # ended-contact buckets start here (rolling SL)
    oldest = now_ms - horizon_ms
    c = s.contacts.c
    end = wait_end()
    keys = (c.queue, c.channel)

    at_base = conn.execute(
        sa.select(*keys, sa.func.count())
        .where(
            c.created_at >= oldest,
            c.created_at <= base,
            sa.or_(c.outcome == "waiting", end > base),
        )
        .group_by(*keys)
    )
    bucket = ((c.created_at - base - 1) // MINUTE_MS).label("bucket")
    created = conn.execute(
        sa.select(*keys, bucket, sa.func.count())
        .where(c.created_at > base, c.created_at <= now_ms)
        .group_by(*keys, bucket)
    )
    ended_bucket = ((end - early - 1) // MINUTE_MS).label("bucket")
    answered = c.accepted_at.is_not(None)
    ended = conn.execute(
        sa.select(
            *keys,
            ended_bucket,
            _count(answered),
            _count(sa.and_(answered, c.in_sl == 1)),
            _count(c.outcome == "abandoned"),
            _count(c.outcome == "overflowed"),
        )
        .where(c.created_at >= oldest, end > early, end <= now_ms)
        .group_by(*keys, ended_bucket)
    )
    return assemble(now_ms, at_base, created, ended)


def assemble(
    now_ms: int,
    at_base: Iterable[Any],
    created: Iterable[Any],
    ended: Iterable[Any],
) -> dict[str, Any]:
    """The board's figures from the three grouped queries of :func:`recent` (pure):
    (queue, channel, count) waiting at the start; (queue, channel, minute, count) created;
    (queue, channel, minute from 15 minutes earlier, answered, in SL, abandoned, overflowed)
    whose wait ended."""
    span = POINTS + SL_WINDOW
    start: dict[tuple[str, str], int] = defaultdict(int)
    came: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0] * POINTS)
    left: dict[tuple[str, str], dict[str, list[int]]] = defaultdict(
        lambda: {n: [0] * span for n in ENDED_SUMS}
    )
    for queue, channel, n in at_base:
        start[(queue, channel)] += int(n or 0)
    for queue, channel, b, n in created:
        if 0 <= int(b) < POINTS:
            came[(queue, channel)][int(b)] += int(n or 0)
    for queue, channel, b, *sums in ended:
        if 0 <= int(b) < span:
            row = left[(queue, channel)]
            for name, n in zip(ENDED_SUMS, sums, strict=True):
                row[name][int(b)] += int(n or 0)
    queues = []
    for key in sorted(set(start) | set(came) | set(left)):
        if not key[0]:
            continue  # abandoned before it was queued anywhere
        queues.append(_queue(key, start[key], came[key], left[key]))
    base = now_ms - POINTS * MINUTE_MS
    return {
        "now": now_ms,
        "points": [base + (k + 1) * MINUTE_MS for k in range(POINTS)],
        "queues": [q for q in queues if q is not None],
    }


def _queue(
    key: tuple[str, str], at_start: int, came: list[int], left: dict[str, list[int]]
) -> dict[str, Any] | None:
    decided = [
        left["answered"][i] + left["abandoned"][i] + left["overflowed"][i]
        for i in range(POINTS + SL_WINDOW)
    ]
    waiting, level = [], []
    now_waiting = at_start
    for k in range(POINTS):
        i = k + SL_WINDOW  # bucket of point k in the ended lists
        now_waiting += came[k] - decided[i]
        waiting.append(max(0, now_waiting))
        window = range(i - SL_WINDOW + 1, i + 1)
        level.append(
            _ratio(sum(left["answered_in_sl"][j] for j in window), sum(decided[j] for j in window))
        )
    windows: dict[str, dict[str, int | float | None]] = {}
    for name, minutes in WINDOWS.items():
        ended_range = range(POINTS + SL_WINDOW - minutes, POINTS + SL_WINDOW)
        sums: dict[str, int | float | None] = {
            n: sum(left[n][j] for j in ended_range) for n in ENDED_SUMS
        }
        sums["offered"] = sum(came[POINTS - minutes :])
        in_sl = sum(left["answered_in_sl"][j] for j in ended_range)
        sums["service_level"] = _ratio(in_sl, sum(decided[j] for j in ended_range))
        windows[name] = sums
    if not at_start and not any(came) and not any(decided[SL_WINDOW:]):
        return None
    return {
        "queue": key[0],
        "channel": key[1],
        "windows": windows,
        "series": {
            "waiting": waiting,
            "service_level": level,
            "answered": left["answered"][SL_WINDOW:],
            "abandoned": left["abandoned"][SL_WINDOW:],
        },
    }


def _ratio(part: int, whole: int) -> float | None:
    return None if not whole else round(part / whole, 4)
