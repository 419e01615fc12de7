"""Storing events on SQLite and PostgreSQL: once each, whatever the batches, and a schema
made by the migrations that matches the code's tables."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from feed import Feed, known_sequence, ms
from sqlalchemy.engine import Engine

from devstack.postgres import PostgresCluster
from reports import schema as s
from reports.db import check_schema, make_engine, migrate, revision
from reports.errors import DatabaseUnavailable, NotMigrated
from reports.figures import report
from reports.periods import parse_period
from reports.store import Store, user_key, user_key_secret


def table_rows(engine: Engine) -> dict[str, list[dict]]:
    out = {}
    with engine.connect() as conn:
        for name in ("events", *s.ROW_TABLES, *s.SLOT_TABLES):
            table = s.metadata.tables[name]
            keys = table.primary_key.columns.values()
            out[name] = [dict(r._mapping) for r in conn.execute(sa.select(table).order_by(*keys))]
    return out


def test_each_event_is_stored_once_whatever_the_batches(
    engine: Engine, another_engine: Engine
) -> None:
    entries = known_sequence().entries
    store = Store(engine, b"k")
    assert store.ingest(entries) == len(entries)
    once = table_rows(engine)
    assert store.ingest(entries) == 0  # a replay (after a crash before the ack) adds nothing
    assert store.ingest(entries[10:20]) == 0
    assert table_rows(engine) == once
    assert store.last_id() == entries[-1][0]

    batched = Store(another_engine, b"k")  # the same rows from batches of 7
    for i in range(0, len(entries), 7):
        batched.ingest(entries[i : i + 7])
    assert table_rows(another_engine) == once


def test_entries_trimmed_before_they_were_read_are_skipped(engine: Engine) -> None:
    f = Feed()
    f.add(ms(0), "agent.status", agent="a", status="available", reason="", previous="")
    assert Store(engine, b"k").ingest([("1-0", None), *f.entries, ("2-0", {})]) == 1


def test_the_migrations_make_exactly_the_tables_of_the_code(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), s.metadata)
    assert [d for d in diff if d[0] != "remove_table" or d[1].name != "reports_version"] == []
    assert migrate(engine) == revision(engine) == "0001"  # running again changes nothing


def test_an_empty_database_asks_for_the_migration(db_url: str) -> None:
    eng = make_engine(db_url)
    with pytest.raises(NotMigrated, match="run `implus reports migrate`"):
        check_schema(eng)
    eng.dispose()


def test_bad_or_unreachable_databases_say_what_to_check(postgres: PostgresCluster) -> None:
    with pytest.raises(DatabaseUnavailable, match="SQLite or PostgreSQL"):
        make_engine("mysql://u:secret@db/x")
    with pytest.raises(DatabaseUnavailable, match="bad reports database URL"):
        make_engine("not a url")
    gone = make_engine(postgres.database_url("no_such_db").replace("implus@", "implus:pw@"))
    with pytest.raises(DatabaseUnavailable, match="check that it is running") as e:
        revision(gone)
    assert "pw" not in str(e.value)


def test_the_user_key_secret_is_kept_or_taken_from_the_environment(engine: Engine) -> None:
    made = user_key_secret(engine, env={})
    assert user_key_secret(engine, env={}) == made  # kept in the database
    assert user_key_secret(engine, env={"IMPLUS_REPORTS_SECRET": "s" * 32}) == b"s" * 32
    assert user_key(made, "+4412") != user_key(b"s" * 32, "+4412")


def test_rollups_add_up_to_the_raw_rows_whatever_the_batches(
    engine: Engine, another_engine: Engine
) -> None:
    """The slot sums kept event by event give the same report as the raw rows."""
    entries = known_sequence().entries
    Store(engine, b"k").ingest(entries)
    one_by_one = Store(another_engine, b"k")
    for entry in entries:
        one_by_one.ingest([entry])
    assert table_rows(engine) == table_rows(another_engine)
    p = parse_period("2026-11-30T08:00", "2026-11-30T10:00", "15m")
    sessions = [f"s{n}" for n in range(1, 7)]
    agent_fields = (
        "offers",
        "answered",
        "rejected",
        "no_answers",
        "aht_s",
        "avg_wrapup_s",
        "transfers",
    )
    with another_engine.connect() as conn:
        for kind in ("queue", "channel", "service"):
            assert report(conn, kind, p, ms(0, hour=12)) == report(
                conn, kind, p, ms(0, hour=12), sessions=sessions
            )
        rolled = report(conn, "agent", p, ms(0, hour=12))
        raw = report(conn, "agent", p, ms(0, hour=12), sessions=sessions)
    assert [[r[f] for f in agent_fields] for r in rolled if r["offers"] or r["answered"]] == [
        [r[f] for f in agent_fields] for r in raw
    ]
