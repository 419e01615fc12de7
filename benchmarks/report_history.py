"""A month of contact-centre history for the report benchmark (benchmarks/report_sink.py).

Rows are made straight into the report tables (what the sink would have folded them
into): CONTACTS contacts over DAYS days, one offer each plus a rung-out one for one in
ten, and every agent's status changes. Deterministic (seeded).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from reports import schema as s
from reports.rollup import MAXIMA, contact_parts, offer_parts

QUEUES = [f"q{i:02d}" for i in range(20)]
SERVICES = [f"svc{i}" for i in range(10)]
CHANNELS = ["voice", "chat", "voip"]
AGENTS = [f"agent{i:03d}" for i in range(300)]
DAY_MS = 86_400_000


def history(
    start_ms: int, days: int, contacts: int, seed: int = 7
) -> Iterator[tuple[str, dict[str, Any]]]:
    """(table, row) pairs: contacts and offers in time order, then agent periods."""
    rnd = random.Random(seed)
    step = days * DAY_MS / contacts
    for i in range(contacts):
        created = start_ms + int(i * step)
        rid, sid = f"r{i}", f"s{i // 2}"
        channel = CHANNELS[i % 3]
        agent = AGENTS[rnd.randrange(len(AGENTS))]
        roll = rnd.random()
        wait = rnd.randrange(1_000, 60_000)
        rang_out = rnd.random() < 0.1
        row: dict[str, Any] = {
            "request_id": rid, "session_id": sid, "channel": channel,
            "service": SERVICES[i % len(SERVICES)], "queue": QUEUES[rnd.randrange(len(QUEUES))],
            "created_at": created, "first_offer_at": created + 500, "offers": 1 + rang_out,
            "no_answers": int(rang_out), "rejects": 0, "accepted_at": None, "agent": None,
            "wait_ms": wait, "sl_target_ms": None, "in_sl": 0,
            "ended_at": created + wait, "outcome": "abandoned",
            "end_reason": "", "handle_ms": None, "wrapup_ms": None, "transferred_out": 0,
            "transferred_from": "",
        }  # fmt: skip
        if roll < 0.85:
            handle = rnd.randrange(30_000, 900_000)
            row.update(
                accepted_at=created + wait, agent=agent, outcome="answered",
                sl_target_ms=20_000, in_sl=int(wait <= 20_000),
                ended_at=created + wait + handle, handle_ms=handle,
                wrapup_ms=5_000 if channel != "chat" else 0, transferred_out=int(roll < 0.03),
            )  # fmt: skip
        elif roll > 0.95:
            row.update(outcome="overflowed", end_reason="overflow to voicemail")
        yield "contacts", row
        if rang_out:
            yield (
                "offers",
                _offer(
                    f"x{i}",
                    rid,
                    sid,
                    AGENTS[(i * 7) % len(AGENTS)],
                    channel,
                    created + 500,
                    "timeout",
                ),
            )
        if row["agent"]:
            yield (
                "offers",
                _offer(f"o{i}", rid, sid, agent, channel, created + wait - 8_000, "accepted"),
            )
    for n, agent in enumerate(AGENTS):
        at = start_ms
        status = "offline"
        k = 0
        while at < start_ms + days * DAY_MS:
            length = rnd.randrange(600_000, 4 * 3_600_000)
            yield "agent_periods", {
                "id": f"{n}-{k}", "agent": agent, "status": status, "reason": "",
                "start_at": at, "end_at": at + length,
            }  # fmt: skip
            at += length
            k += 1
            status = rnd.choice(["available", "available", "away", "offline"])


def _offer(
    oid: str, rid: str, sid: str, agent: str, ch: str, at: int, outcome: str
) -> dict[str, Any]:
    return {
        "offer_id": oid, "request_id": rid, "session_id": sid, "agent": agent, "channel": ch,
        "created_at": at, "ended_at": at + 8_000, "outcome": outcome, "reason": "",
    }  # fmt: skip


def load(engine: Engine, start_ms: int, days: int, contacts: int) -> dict[str, int]:
    """Write the history and the slot sums the sink would have kept for it (COPY on
    PostgreSQL, executemany on SQLite), then let the database gather its statistics.
    Returns rows per table."""
    counts = {"contacts": 0, "offers": 0, "agent_periods": 0, "contact_slots": 0, "agent_slots": 0}
    batches: dict[str, list[dict[str, Any]]] = {t: [] for t in counts}
    postgres = engine.dialect.name == "postgresql"
    sums: dict[Any, dict[str, int]] = {}
    with engine.begin() as conn:
        for table, row in history(start_ms, days, contacts):
            batches[table].append(row)
            counts[table] += 1
            if table != "agent_periods":
                parts = contact_parts(row) if table == "contacts" else offer_parts(row)
                for key, add in parts:
                    acc = sums.setdefault(key, {})
                    for name, value in add.items():
                        acc[name] = (
                            max(acc.get(name, 0), value)
                            if name in MAXIMA
                            else acc.get(name, 0) + value
                        )
            if len(batches[table]) >= 20_000:
                _write(conn, table, batches[table], postgres)
                batches[table] = []
        for (table, key), add in sums.items():
            t = s.SLOT_TABLES[table]
            names = [c.name for c in t.primary_key.columns]
            row = dict.fromkeys((c.name for c in t.columns), 0) | dict(zip(names, key, strict=True))
            batches[table].append(row | add)
            counts[table] += 1
        for table, rows in batches.items():
            for i in range(0, len(rows), 20_000):
                _write(conn, table, rows[i : i + 20_000], postgres)
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(
            sa.text("VACUUM ANALYZE" if postgres else "ANALYZE")
        )
    return counts


def _write(conn: sa.Connection, table: str, rows: list[dict[str, Any]], postgres: bool) -> None:
    if not rows:
        return
    if not postgres:
        conn.execute(sa.insert(s.metadata.tables[table]), rows)
        return
    columns = list(rows[0])
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([row[c] for c in columns])
