"""The report figures: per queue, channel, service or agent, per interval of a period.

Pure functions of a database connection and their arguments (SQL through SQLAlchemy
Core, the same on SQLite and PostgreSQL). Whole reports read the sink's 15-minute
rollups (``contact_slots``, ``agent_slots``); a report limited to some sessions (how
tests check calls they placed) adds up the raw rows instead, with the same definitions.
The database sums per interval; averages and rates are computed here.

Definitions (docs/reports.md says the same):

- A contact is one routing request, counted in the interval it was created (entered
  routing); for the agent report, in the interval the agent answered it. An offer
  counts in the interval it was made.
- offered: contacts created; answered: an agent accepted them; abandoned: the customer
  left before an answer (``abandon_wait_s`` average / ``max_abandon_wait_s`` longest wait
  before leaving); overflowed: a goal sent them elsewhere.
- answered_in_sl: answered within the service-level target of their queue in the
  strategy in force when they were answered (``service_level``, default 20 s);
  service_level = answered_in_sl / offered.
- asa_s: average speed of answer (wait of answered contacts); aht_s: average handle time
  (answer to end); avg_wrapup_s: average wrap-up that followed.
- transfers: contacts an agent transferred on; no_answers: offers that rang out (timeout
  or no answer at the phone).
- Agents: offers made to them, answered, rejected, no_answers; time in each status
  (available, away, offline); occupancy = (handle + wrap-up time) / time available.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from reports import schema as s
from reports.periods import Period

KINDS = ("queue", "channel", "service", "agent")
CONTACT_COLUMNS = (
    "interval_start",
    "key",
    "offered",
    "answered",
    "abandoned",
    "abandon_wait_s",
    "max_abandon_wait_s",
    "overflowed",
    "answered_in_sl",
    "service_level",
    "asa_s",
    "aht_s",
    "avg_wrapup_s",
    "transfers",
    "no_answers",
)
AGENT_COLUMNS = (
    "interval_start",
    "key",
    "offers",
    "answered",
    "rejected",
    "no_answers",
    "aht_s",
    "avg_wrapup_s",
    "transfers",
    "available_s",
    "away_s",
    "offline_s",
    "occupancy",
)
STATUS_SUMS = ("available_ms", "away_ms", "offline_ms")

Acc = dict[tuple[int, str], dict[str, int]]


def _count(cond: Any) -> Any:
    return sa.func.sum(sa.case((cond, 1), else_=0))


def _sums(table: sa.Table, names: Iterable[str]) -> list[Any]:
    # cast: PostgreSQL's sum of bigints is a numeric (a slow Decimal in Python)
    return [
        sa.cast(
            (sa.func.max if n.startswith("max_") else sa.func.sum)(table.c[n]), sa.BigInteger
        ).label(n)
        for n in names
    ]


def _collect(conn: Connection, period: Period, query: Any, acc: Acc, names: Iterable[str]) -> None:
    """Add the rows of ``query`` (columns bucket, key, then ``names``) into ``acc``."""
    names = tuple(names)
    maxima = {n for n in names if n.startswith("max_")}
    canonical: dict[int, int] = {}
    for bucket, key, *values in conn.execute(query):
        b = canonical.get(bucket)
        if b is None:
            b = canonical[bucket] = period.canonical(int(bucket))
        into = acc.get((b, key or ""))
        if into is None:
            acc[(b, key or "")] = {n: int(v or 0) for n, v in zip(names, values, strict=True)}
            continue
        for n, v in zip(names, values, strict=True):
            v = int(v or 0)
            into[n] = max(into.get(n, 0), v) if n in maxima else into.get(n, 0) + v


def contact_report(
    conn: Connection, period: Period, by: str, sessions: Collection[str] | None = None
) -> list[dict[str, Any]]:
    """Contacts per ``by`` (queue, channel or service) and interval: CONTACT_COLUMNS.
    ``sessions`` limits the report to those sessions' contacts (from the raw rows)."""
    if by not in ("queue", "channel", "service"):
        raise ValueError(f"contacts are reported by queue, channel or service, not {by!r}")
    acc: Acc = {}
    if sessions is None:
        t = s.contact_slots
        bucket = period.bucket_sql(t.c.slot_at).label("bucket")
        query = (
            sa.select(bucket, t.c.key.label("key"), *_sums(t, s.CONTACT_SUMS))
            .where(t.c.dimension == by, t.c.slot_at >= period.start_ms, t.c.slot_at < period.end_ms)
            .group_by(bucket, t.c.key)
        )
    else:
        c = s.contacts.c
        answered = c.accepted_at.is_not(None)
        abandoned = c.outcome == "abandoned"
        bucket = period.bucket_sql(c.created_at).label("bucket")
        key = s.contacts.c[by]
        query = (
            sa.select(
                bucket,
                key.label("key"),
                sa.func.count().label("offered"),
                _count(answered).label("answered"),
                _count(abandoned).label("abandoned"),
                _count(c.outcome == "overflowed").label("overflowed"),
                _count(sa.and_(answered, c.in_sl == 1)).label("answered_in_sl"),
                sa.func.sum(c.transferred_out).label("transfers"),
                sa.func.sum(c.no_answers).label("no_answers"),
                sa.func.sum(sa.case((answered, c.wait_ms), else_=0)).label("answer_wait_ms"),
                sa.func.sum(sa.case((abandoned, c.wait_ms), else_=0)).label("abandon_wait_ms"),
                sa.func.max(sa.case((abandoned, c.wait_ms), else_=0)).label("max_abandon_ms"),
                sa.func.count(c.handle_ms).label("handled"),
                sa.func.sum(c.handle_ms).label("handle_ms"),
                sa.func.count(c.wrapup_ms).label("wrapped"),
                sa.func.sum(c.wrapup_ms).label("wrapup_ms"),
            )
            .where(
                c.created_at >= period.start_ms,
                c.created_at < period.end_ms,
                c.session_id.in_(list(sessions)),
            )
            .group_by(bucket, key)
        )
    _collect(conn, period, query, acc, s.CONTACT_SUMS)
    labels = _Labels(period)
    # a contact that moved to another queue leaves a slot row of zeros behind
    return [_contact_row(labels(b), k, v) for (b, k), v in sorted(acc.items()) if v.get("offered")]


def agent_report(
    conn: Connection, period: Period, now_ms: int, sessions: Collection[str] | None = None
) -> list[dict[str, Any]]:
    """Per agent and interval: AGENT_COLUMNS. Status time is cut at interval edges (a
    status still going on counts until ``now_ms``). ``sessions`` limits offers and
    contacts to those sessions (from the raw rows) and leaves status time out."""
    acc: Acc = {}
    if sessions is None:
        t = s.agent_slots
        bucket = period.bucket_sql(t.c.slot_at).label("bucket")
        query = (
            sa.select(bucket, t.c.agent.label("key"), *_sums(t, s.AGENT_SUMS))
            .where(t.c.slot_at >= period.start_ms, t.c.slot_at < period.end_ms)
            .group_by(bucket, t.c.agent)
        )
        _collect(conn, period, query, acc, s.AGENT_SUMS)
        for agent, status, start, end in status_periods(conn, period, now_ms):
            name = f"{status}_ms"
            if name in STATUS_SUMS:
                for b, ms in period.split(start, end):
                    into = acc.setdefault((b, agent), {})
                    into[name] = into.get(name, 0) + ms
    else:
        for query, names in _raw_agent_queries(period, list(sessions)):
            _collect(conn, period, query, acc, names)
    labels = _Labels(period)
    return [_agent_row(labels(b), k, v) for (b, k), v in sorted(acc.items()) if any(v.values())]


def _raw_agent_queries(period: Period, sessions: list[str]) -> list[tuple[Any, tuple[str, ...]]]:
    o = s.offers.c
    no_answer = sa.or_(
        o.outcome == "timeout", sa.and_(o.outcome == "failed", o.reason == "no_answer")
    )
    ob = period.bucket_sql(o.created_at).label("bucket")
    offers = (
        sa.select(
            ob,
            o.agent.label("key"),
            sa.func.count().label("offers"),
            _count(o.outcome == "accepted").label("answered"),
            _count(o.outcome == "rejected").label("rejected"),
            _count(no_answer).label("no_answers"),
        )
        .where(
            o.created_at >= period.start_ms,
            o.created_at < period.end_ms,
            o.session_id.in_(sessions),
        )
        .group_by(ob, o.agent)
    )
    c = s.contacts.c
    cb = period.bucket_sql(c.accepted_at).label("bucket")
    contacts = (
        sa.select(
            cb,
            c.agent.label("key"),
            sa.func.count(c.handle_ms).label("handled"),
            sa.func.sum(c.handle_ms).label("handle_ms"),
            sa.func.count(c.wrapup_ms).label("wrapped"),
            sa.func.sum(c.wrapup_ms).label("wrapup_ms"),
            sa.func.sum(c.transferred_out).label("transfers"),
        )
        .where(
            c.accepted_at >= period.start_ms,
            c.accepted_at < period.end_ms,
            c.session_id.in_(sessions),
        )
        .group_by(cb, c.agent)
    )
    return [
        (offers, ("offers", "answered", "rejected", "no_answers")),
        (contacts, ("handled", "handle_ms", "wrapped", "wrapup_ms", "transfers")),
    ]


def status_periods(
    conn: Connection, period: Period, now_ms: int
) -> Iterable[tuple[str, str, int, int]]:
    """(agent, status, start ms, end ms) of the status periods overlapping ``period``."""
    p = s.agent_periods.c
    # coalesce: one range test the planner can scan for (an OR made SQLite walk an index)
    rows = conn.execute(
        sa.select(p.agent, p.status, p.start_at, p.end_at).where(
            p.start_at < period.end_ms, sa.func.coalesce(p.end_at, period.end_ms) > period.start_ms
        )
    )
    for agent, status, start, end in rows:
        yield agent, status, start, min(now_ms, period.end_ms) if end is None else end


def report(
    conn: Connection,
    kind: str,
    period: Period,
    now_ms: int,
    sessions: Collection[str] | None = None,
) -> list[dict[str, Any]]:
    """The report of ``kind`` (queue, channel, service or agent); see the module doc."""
    if kind == "agent":
        return agent_report(conn, period, now_ms, sessions)
    if kind not in KINDS:
        raise ValueError(f"reports are per {', '.join(KINDS)}, not {kind!r}")
    return contact_report(conn, period, kind, sessions)


def columns(kind: str) -> tuple[str, ...]:
    return AGENT_COLUMNS if kind == "agent" else CONTACT_COLUMNS


def _ratio(part: float, whole: float, scale: float = 1.0) -> float | None:
    return None if not whole else round(part / whole / scale, 4)


class _Labels:
    """Interval labels, each worked out once."""

    def __init__(self, period: Period) -> None:
        self.period = period
        self.known: dict[int, str] = {}

    def __call__(self, bucket: int) -> str:
        label = self.known.get(bucket)
        if label is None:
            label = self.known[bucket] = self.period.label(bucket)
        return label


def _contact_row(label: str, key: str, v: Mapping[str, int]) -> dict[str, Any]:
    g = v.get
    return {
        "interval_start": label,
        "key": key,
        "offered": g("offered", 0),
        "answered": g("answered", 0),
        "abandoned": g("abandoned", 0),
        "abandon_wait_s": _ratio(g("abandon_wait_ms", 0), g("abandoned", 0), 1000),
        "max_abandon_wait_s": round(g("max_abandon_ms", 0) / 1000, 3) if g("abandoned") else None,
        "overflowed": g("overflowed", 0),
        "answered_in_sl": g("answered_in_sl", 0),
        "service_level": _ratio(g("answered_in_sl", 0), g("offered", 0)),
        "asa_s": _ratio(g("answer_wait_ms", 0), g("answered", 0), 1000),
        "aht_s": _ratio(g("handle_ms", 0), g("handled", 0), 1000),
        "avg_wrapup_s": _ratio(g("wrapup_ms", 0), g("wrapped", 0), 1000),
        "transfers": g("transfers", 0),
        "no_answers": g("no_answers", 0),
    }


def _agent_row(label: str, key: str, v: Mapping[str, int]) -> dict[str, Any]:
    g = v.get
    return {
        "interval_start": label,
        "key": key,
        "offers": g("offers", 0),
        "answered": g("answered", 0),
        "rejected": g("rejected", 0),
        "no_answers": g("no_answers", 0),
        "aht_s": _ratio(g("handle_ms", 0), g("handled", 0), 1000),
        "avg_wrapup_s": _ratio(g("wrapup_ms", 0), g("wrapped", 0), 1000),
        "transfers": g("transfers", 0),
        "available_s": round(g("available_ms", 0) / 1000, 3),
        "away_s": round(g("away_ms", 0) / 1000, 3),
        "offline_s": round(g("offline_ms", 0) / 1000, 3),
        "occupancy": _ratio(g("handle_ms", 0) + g("wrapup_ms", 0), g("available_ms", 0)),
    }
