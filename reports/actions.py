"""What supervisors did, from the stored events: agents forced away or offline
(``agent.status`` with ``by``) and waiting contacts moved (``request.moved``). Pure
functions of a database connection."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from reports import schema as s

COLUMNS = (
    "at",
    "by",
    "action",
    "agent",
    "queue",
    "status",
    "reason",
    "previous",
    "channel",
    "request",
    "session",
)
LIMIT = 10_000
"""Most actions one answer lists (newest first)."""


def supervisor_actions(
    conn: Connection, start_ms: int, end_ms: int, limit: int = LIMIT
) -> list[dict[str, Any]]:
    """Supervisor actions with ``start_ms <= at < end_ms``, newest first: ``at`` (ms),
    ``by`` (the supervisor), ``action`` (``set away``, ``set offline``, ``moved``) and
    what it was done to."""
    e = s.events.c
    rows = conn.execute(
        sa.select(e.at, e.type, e.request, e.session, e.agent, e.channel, e.detail)
        .where(
            e.at >= start_ms,
            e.at < end_ms,
            e.type.in_(("agent.status", "request.moved")),
            e.detail.like('%"by":%'),
        )
        .order_by(e.at.desc(), e.id.desc())
        .limit(limit)
    )
    out = []
    for at, etype, request, session, agent, channel, detail in rows:
        try:
            d = json.loads(detail)
        except ValueError:
            continue
        if not isinstance(d, dict) or not d.get("by"):
            continue
        moved = etype == "request.moved"
        out.append(
            {
                "at": int(at),
                "by": str(d["by"]),
                "action": "moved" if moved else f"set {d.get('status', '')}",
                "agent": agent or "",
                "request": request or "",
                "session": session or "",
                "channel": channel or "",
                "status": "" if moved else str(d.get("status", "")),
                "reason": str(d.get("reason", "")),
                "queue": str(d.get("queue", "")),
                "previous": str(d.get("previous", "")),
            }
        )
    return out
