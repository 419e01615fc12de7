"""Writing many rows at once (reports.db): staged through temporary tables on PostgreSQL,
one compiled statement on SQLite; the same rows either way, whatever rolled back before."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from reports import schema as s
from reports.db import STAGE_MIN, add_counts, upsert


def _offer(n: int, outcome: str) -> dict:
    return {"offer_id": f"o{n}", "request_id": f"r{n}", "session_id": f"s{n}", "agent": "a",
            "channel": "chat", "created_at": n, "ended_at": None, "outcome": outcome,
            "reason": ""}  # fmt: skip


def test_many_rows_are_inserted_then_overwritten_after_a_rollback(engine: Engine) -> None:
    many = STAGE_MIN + 5
    with engine.connect() as conn:
        with conn.begin() as trans:  # makes the staging tables, then undoes it all
            upsert(conn, s.offers, [_offer(n, "pending") for n in range(many)])
            trans.rollback()
        with conn.begin():  # the same session: its staging tables are gone
            upsert(conn, s.offers, [_offer(n, "pending") for n in range(many)])
        with conn.begin():
            upsert(conn, s.offers, [_offer(n, "accepted") for n in range(0, many, 2)])
        rows = conn.execute(sa.select(s.offers.c.offer_id, s.offers.c.outcome)).all()
    assert len(rows) == many
    assert dict(rows) == {f"o{n}": "accepted" if n % 2 == 0 else "pending" for n in range(many)}


def test_counts_are_added_and_maxima_kept_in_one_statement(engine: Engine) -> None:
    def slot(n: int, offered: int, longest: int) -> dict:
        return dict.fromkeys(s.CONTACT_SUMS, 0) | {
            "slot_at": n, "dimension": "queue", "key": "q", "offered": offered,
            "max_abandon_ms": longest,
        }  # fmt: skip

    many = STAGE_MIN + 5
    with engine.begin() as conn:
        add_counts(conn, s.contact_slots, [slot(n, 1, 500) for n in range(many)],
                   maxima=["max_abandon_ms"])  # fmt: skip
        add_counts(conn, s.contact_slots, [slot(n, 2, 300 + n * 20) for n in range(many)],
                   maxima=["max_abandon_ms"])  # fmt: skip
        rows = conn.execute(
            sa.select(s.contact_slots.c.slot_at, s.contact_slots.c.offered,
                      s.contact_slots.c.max_abandon_ms).order_by(s.contact_slots.c.slot_at)
        ).all()  # fmt: skip
    assert [tuple(r) for r in rows] == [(n, 3, max(500, 300 + n * 20)) for n in range(many)]
