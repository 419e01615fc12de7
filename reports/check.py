"""The report of a known set of sessions: how tests check the figures of calls and chats
they placed themselves (the router-level test; later the sandbox Asterisk's).

    figures = session_figures(engine, ["s1", "s2"], by="queue")
    assert figures["booking"]["answered"] == 2
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from reports import schema as s
from reports.figures import report
from reports.periods import Period, zone


def session_figures(
    engine: Engine,
    sessions: Collection[str],
    by: str = "queue",
    now_ms: int | None = None,
) -> dict[str, dict[str, Any]]:
    """Totals over everything the sink stored for ``sessions``: key (queue, channel,
    service or agent) -> the report row (figures.CONTACT_COLUMNS / AGENT_COLUMNS).
    Agents' status time is not limited to sessions and so is left out (zero)."""
    if not sessions:
        return {}
    c, o = s.contacts.c, s.offers.c
    with engine.connect() as conn:
        lo, hi = conn.execute(
            sa.select(sa.func.min(c.created_at), sa.func.max(c.created_at)).where(
                c.session_id.in_(list(sessions))
            )
        ).one()
        olo = conn.execute(
            sa.select(sa.func.min(o.created_at)).where(o.session_id.in_(list(sessions)))
        ).scalar()
        if lo is None:
            return {}
        lo = min(lo, olo if olo is not None else lo)
        start = datetime.fromtimestamp(lo // 900_000 * 900, UTC)
        end = datetime.fromtimestamp((hi + 86_400_000) // 900_000 * 900, UTC)
        period = Period(
            start, max(end, start + timedelta(minutes=15)), "total", zone("UTC")
        ).with_segments()
        rows = report(
            conn,
            by,
            period,
            now_ms if now_ms is not None else period.end_ms,
            sessions=sessions,
        )
    return {row["key"]: row for row in rows}
