"""The report figures: per queue, channel, service or agent, per interval of a period.

Pure functions of a database connection and their arguments (SQL through SQLAlchemy
Core, the same on SQLite and PostgreSQL). The database sums per 15-minute slot; the
figures per interval are added up here and the averages and rates computed last.

Definitions (docs/reports.md says the same):

- A contact is one routing request, counted in the interval it was created (entered
  routing); for the agent report, in the interval the agent answered it.
- offered: contacts created; answered: an agent accepted them; abandoned: the customer
  left before an answer (``abandon_wait_s`` average / ``max_abandon_wait_s`` longest wait
  before leaving); overflowed: a goal sent them elsewhere.
- answered_in_sl: answered within the queue's service-level target (its ``service_level``
  in the strategy, default 20 s); service_level = answered_in_sl / offered.
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
from reports.periods import SLOT_MS, Period
from router.strategy import Strategy

KINDS = ("queue", "channel", "service", "agent")
DEFAULT_TARGET_S = 20.0

CONTACT_SUMS = (
    "offered",
    "answered",
    "abandoned",
    "overflowed",
    "answered_in_sl",
    "transfers",
    "no_answers",
    "answer_wait_ms",
    "abandon_wait_ms",
    "handled",
    "handle_ms",
    "wrapped",
    "wrapup_ms",
)
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
AGENT_SUMS = (
    "offers",
    "answered",
    "rejected",
    "no_answers",
    "handled",
    "handle_ms",
    "wrapped",
    "wrapup_ms",
    "transfers",
    "available_ms",
    "away_ms",
    "offline_ms",
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


def _count(cond: Any) -> Any:
    return sa.func.sum(sa.case((cond, 1), else_=0))


def _slot(column: Any, period: Period) -> Any:
    if period.interval == "total":
        return sa.literal(0)
    return (column - period.start_ms) // SLOT_MS


def contact_report(
    conn: Connection,
    period: Period,
    by: str,
    targets: Mapping[str, float] | None = None,
    default_target_s: float = DEFAULT_TARGET_S,
    sessions: Collection[str] | None = None,
) -> list[dict[str, Any]]:
    """Contacts per ``by`` (queue, channel or service) and interval: CONTACT_COLUMNS.
    ``targets`` maps a queue to its service-level target in seconds; ``sessions``
    limits the report to those sessions' contacts."""
    if by not in ("queue", "channel", "service"):
        raise ValueError(f"contacts are reported by queue, channel or service, not {by!r}")
    c = s.contacts.c
    target = (
        sa.case(
            {q: int(t * 1000) for q, t in (targets or {}).items()},
            value=c.queue,
            else_=int(default_target_s * 1000),
        )
        if targets
        else sa.literal(int(default_target_s * 1000))
    )
    answered = c.accepted_at.is_not(None)
    abandoned = c.outcome == "abandoned"
    slot = _slot(c.created_at, period).label("slot")
    key = getattr(c, by).label("key")
    query = (
        sa.select(
            slot,
            key,
            sa.func.count().label("offered"),
            _count(answered).label("answered"),
            _count(abandoned).label("abandoned"),
            _count(c.outcome == "overflowed").label("overflowed"),
            _count(sa.and_(answered, c.wait_ms <= target)).label("answered_in_sl"),
            sa.func.sum(c.transferred_out).label("transfers"),
            sa.func.sum(c.no_answers).label("no_answers"),
            sa.func.sum(sa.case((answered, c.wait_ms), else_=0)).label("answer_wait_ms"),
            sa.func.sum(sa.case((abandoned, c.wait_ms), else_=0)).label("abandon_wait_ms"),
            sa.func.max(sa.case((abandoned, c.wait_ms), else_=None)).label("max_abandon_ms"),
            sa.func.count(c.handle_ms).label("handled"),
            sa.func.sum(c.handle_ms).label("handle_ms"),
            sa.func.count(c.wrapup_ms).label("wrapped"),
            sa.func.sum(c.wrapup_ms).label("wrapup_ms"),
        )
        .where(c.created_at >= period.start_ms, c.created_at < period.end_ms)
        .group_by(sa.text("slot"), sa.text("key"))
    )
    if sessions is not None:
        query = query.where(c.session_id.in_(list(sessions)))
    acc: dict[tuple[int, str], dict[str, Any]] = {}
    for r in conn.execute(query).mappings():
        into = acc.setdefault((period.slot_bucket(r["slot"]), r["key"] or ""), _zero(CONTACT_SUMS))
        _add(into, r, CONTACT_SUMS)
        into["max_abandon_ms"] = max(into.get("max_abandon_ms") or 0, r["max_abandon_ms"] or 0)
    return [_contact_row(period, b, k, v) for (b, k), v in sorted(acc.items())]


def agent_report(
    conn: Connection,
    period: Period,
    now_ms: int,
    sessions: Collection[str] | None = None,
) -> list[dict[str, Any]]:
    """Per agent and interval: AGENT_COLUMNS. Offers count when made, contacts when the
    agent answered them; status time is cut at interval edges (a status still going on
    counts until ``now_ms``). ``sessions`` limits offers and contacts (not status time)."""
    acc: dict[tuple[int, str], dict[str, Any]] = {}

    def into(bucket: int, agent: str) -> dict[str, Any]:
        return acc.setdefault((bucket, agent), _zero(AGENT_SUMS))

    o = s.offers.c
    no_answer = sa.or_(
        o.outcome == "timeout", sa.and_(o.outcome == "failed", o.reason == "no_answer")
    )
    offers = (
        sa.select(
            _slot(o.created_at, period).label("slot"),
            o.agent.label("key"),
            sa.func.count().label("offers"),
            _count(o.outcome == "accepted").label("answered"),
            _count(o.outcome == "rejected").label("rejected"),
            _count(no_answer).label("no_answers"),
        )
        .where(o.created_at >= period.start_ms, o.created_at < period.end_ms)
        .group_by(sa.text("slot"), sa.text("key"))
    )
    c = s.contacts.c
    contacts = (
        sa.select(
            _slot(c.accepted_at, period).label("slot"),
            c.agent.label("key"),
            sa.func.count(c.handle_ms).label("handled"),
            sa.func.sum(c.handle_ms).label("handle_ms"),
            sa.func.count(c.wrapup_ms).label("wrapped"),
            sa.func.sum(c.wrapup_ms).label("wrapup_ms"),
            sa.func.sum(c.transferred_out).label("transfers"),
        )
        .where(c.accepted_at >= period.start_ms, c.accepted_at < period.end_ms)
        .group_by(sa.text("slot"), sa.text("key"))
    )
    if sessions is not None:
        offers = offers.where(o.session_id.in_(list(sessions)))
        contacts = contacts.where(c.session_id.in_(list(sessions)))
    for query, names in ((offers, AGENT_SUMS[:4]), (contacts, AGENT_SUMS[4:9])):
        for r in conn.execute(query).mappings():
            _add(into(period.slot_bucket(r["slot"]), r["key"]), r, names)
    if sessions is None:
        for agent, status, start, end in status_periods(conn, period, now_ms):
            name = f"{status}_ms"
            for bucket, ms in period.split(start, end):
                piece = into(bucket, agent)
                if name in piece:
                    piece[name] += ms
    return [_agent_row(period, b, k, v) for (b, k), v in sorted(acc.items())]


def status_periods(
    conn: Connection, period: Period, now_ms: int
) -> Iterable[tuple[str, str, int, int]]:
    """(agent, status, start ms, end ms) of the status periods overlapping ``period``."""
    p = s.agent_periods.c
    rows = conn.execute(
        sa.select(p.agent, p.status, p.start_at, p.end_at).where(
            p.start_at < period.end_ms, sa.or_(p.end_at.is_(None), p.end_at > period.start_ms)
        )
    )
    for agent, status, start, end in rows:
        yield agent, status, start, min(now_ms, period.end_ms) if end is None else end


def report(
    conn: Connection,
    kind: str,
    period: Period,
    now_ms: int,
    targets: Mapping[str, float] | None = None,
    sessions: Collection[str] | None = None,
) -> list[dict[str, Any]]:
    """The report of ``kind`` (queue, channel, service or agent); see the module doc."""
    if kind == "agent":
        return agent_report(conn, period, now_ms, sessions)
    if kind not in KINDS:
        raise ValueError(f"reports are per {', '.join(KINDS)}, not {kind!r}")
    return contact_report(conn, period, kind, targets, sessions=sessions)


def targets_of(strategy: Strategy) -> dict[str, float]:
    """Each queue's service-level target (seconds) in a routing strategy."""
    return {q: strategy.queue(q).service_level for q in strategy.queue_names}


def columns(kind: str) -> tuple[str, ...]:
    return AGENT_COLUMNS if kind == "agent" else CONTACT_COLUMNS


def _zero(names: Iterable[str]) -> dict[str, Any]:
    return dict.fromkeys(names, 0)


def _add(into: dict[str, Any], row: Mapping[Any, Any], names: Iterable[str]) -> None:
    for name in names:
        into[name] += int(row[name] or 0)


def _ratio(part: float, whole: float, scale: float = 1.0) -> float | None:
    return None if not whole else round(part / whole / scale, 4)


def _contact_row(period: Period, bucket: int, key: str, v: dict[str, Any]) -> dict[str, Any]:
    return {
        "interval_start": period.label(bucket),
        "key": key,
        "offered": v["offered"],
        "answered": v["answered"],
        "abandoned": v["abandoned"],
        "abandon_wait_s": _ratio(v["abandon_wait_ms"], v["abandoned"], 1000),
        "max_abandon_wait_s": round(v["max_abandon_ms"] / 1000, 3) if v["abandoned"] else None,
        "overflowed": v["overflowed"],
        "answered_in_sl": v["answered_in_sl"],
        "service_level": _ratio(v["answered_in_sl"], v["offered"]),
        "asa_s": _ratio(v["answer_wait_ms"], v["answered"], 1000),
        "aht_s": _ratio(v["handle_ms"], v["handled"], 1000),
        "avg_wrapup_s": _ratio(v["wrapup_ms"], v["wrapped"], 1000),
        "transfers": v["transfers"],
        "no_answers": v["no_answers"],
    }


def _agent_row(period: Period, bucket: int, key: str, v: dict[str, Any]) -> dict[str, Any]:
    return {
        "interval_start": period.label(bucket),
        "key": key,
        "offers": v["offers"],
        "answered": v["answered"],
        "rejected": v["rejected"],
        "no_answers": v["no_answers"],
        "aht_s": _ratio(v["handle_ms"], v["handled"], 1000),
        "avg_wrapup_s": _ratio(v["wrapup_ms"], v["wrapped"], 1000),
        "transfers": v["transfers"],
        "available_s": round(v["available_ms"] / 1000, 3),
        "away_s": round(v["away_ms"] / 1000, 3),
        "offline_s": round(v["offline_ms"] / 1000, 3),
        "occupancy": _ratio(v["handle_ms"] + v["wrapup_ms"], v["available_ms"]),
    }
