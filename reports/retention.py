"""Keeping data only as long as configured, and erasing a customer's link to it.

:func:`prune` deletes what is older than the retention (``implus reports prune``; the sink
runs it once a day). :func:`erase_user` answers an erasure request: the report tables hold
no number, name or message text, only a keyed hash of the user id on each of the user's
sessions; erasing removes that hash, so nothing left can be tied to the person while the
counts (a call was answered after 12 s) stay right.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from reports import schema as s
from reports.db import set_meta
from reports.store import ROWS_CHANGED, user_key

DAY_MS = 24 * 3600 * 1000


def prune(engine: Engine, retention_days: int, now_ms: int) -> dict[str, int]:
    """Delete rows older than ``retention_days`` (by when they started; open sessions and
    status periods stay). Returns the rows deleted per table."""
    if retention_days < 1:
        raise ValueError("retention must be at least 1 day")
    cutoff = now_ms - retention_days * DAY_MS
    deletes = {
        "events": sa.delete(s.events).where(s.events.c.at < cutoff),
        "contacts": sa.delete(s.contacts).where(s.contacts.c.created_at < cutoff),
        "offers": sa.delete(s.offers).where(s.offers.c.created_at < cutoff),
        "sessions": sa.delete(s.sessions).where(s.sessions.c.closed_at < cutoff),
        "agent_periods": sa.delete(s.agent_periods).where(s.agent_periods.c.end_at < cutoff),
    }
    out = {}
    with engine.begin() as conn:
        for name, stmt in deletes.items():
            out[name] = conn.execute(stmt).rowcount or 0
        if any(out.values()):
            rows_changed(conn)
    return out


def rows_changed(conn: Connection) -> None:
    """Tell the sink that rows it may hold in memory changed (it reads them afresh)."""
    set_meta(conn, ROWS_CHANGED, secrets.token_hex(8))


@dataclass(frozen=True)
class Erased:
    sessions: list[str]
    """Ids of the sessions that were the user's (no longer tied to them)."""


def erase_user(engine: Engine, secret: bytes, user_id: str) -> Erased:
    """Remove the tie between ``user_id`` and their sessions in the reports database."""
    key = user_key(secret, user_id)
    with engine.begin() as conn:
        ids = list(
            conn.execute(
                sa.select(s.sessions.c.session_id)
                .where(s.sessions.c.user_key == key)
                .order_by(s.sessions.c.opened_at)
            ).scalars()
        )
        conn.execute(
            sa.update(s.sessions).where(s.sessions.c.user_key == key).values(user_key=None)
        )
        if ids:
            rows_changed(conn)
    return Erased(ids)
