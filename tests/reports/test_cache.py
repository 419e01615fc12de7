"""The rows the sink keeps in memory between batches: the same rows as reading them from the
database each time, and never stale after another writer, a prune, an erasure or a failed
batch (on SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
import sqlalchemy as sa
from feed import Feed, known_sequence, ms
from sqlalchemy.engine import Engine
from test_store import table_rows

from reports import schema as s
from reports.retention import erase_user, prune
from reports.store import Store

TARGETS = {"booking": 15_000}


def test_a_store_that_holds_few_rows_writes_the_same_rows(
    engine: Engine, another_engine: Engine
) -> None:
    entries = known_sequence().entries
    Store(engine, b"k").ingest(entries)
    small = Store(another_engine, b"k")
    small.cache.limit = 2  # most rows read back from the database
    for i in range(0, len(entries), 5):
        small.ingest(entries[i : i + 5])
    assert len(small.cache.tables["contacts"]) <= 2
    assert table_rows(another_engine) == table_rows(engine)


def test_rows_written_by_another_sink_meanwhile_are_read_afresh(
    engine: Engine, another_engine: Engine
) -> None:
    entries = known_sequence().entries
    Store(engine, b"k").ingest(entries)
    sinks = Store(another_engine, b"k"), Store(another_engine, b"k")
    for n, i in enumerate(range(0, len(entries), 3)):  # taking turns: each one's rows go stale
        sinks[n % 2].ingest(entries[i : i + 3])
    assert table_rows(another_engine) == table_rows(engine)


def test_a_failed_batch_leaves_no_half_folded_rows_in_memory(
    engine: Engine, another_engine: Engine
) -> None:
    entries = known_sequence().entries
    Store(engine, b"k", lookup=lambda _v: TARGETS, version=1).ingest(entries)
    broken = True

    def lookup(_version: int) -> Mapping[str, int] | None:
        if broken:
            raise RuntimeError("the strategy could not be read")
        return TARGETS

    store = Store(another_engine, b"k", lookup=lambda _v: TARGETS, version=1)
    cut = len(entries) // 2
    store.ingest(entries[:cut])
    store.ctx.lookup = lookup
    loaded = (f"{ms(59)}-0", {"type": "strategy.loaded", "version": "1", "at": str(ms(59))})
    batch = [*entries[cut : cut + 6], loaded]  # changes cached rows, then fails
    assert int(entries[cut + 5][0].split("-")[0]) < ms(59)
    with pytest.raises(RuntimeError):
        store.ingest(batch)
    broken = False
    store.ingest(entries[cut : cut + 6])  # read again, as the sink does after a failure
    store.ingest(entries[cut + 6 :])
    assert table_rows(another_engine) == table_rows(engine)


def _opened_and_closed() -> tuple[list, list]:
    f = Feed()
    f.add(ms(0), "session.opened", session="s1", user="+4412", service="booking")
    f.add(ms(1), "request.created", request="c1", session="s1", channel="chat",
          service="booking", user="+4412")  # fmt: skip
    opened = list(f.entries)
    f.add(ms(5), "session.closed", session="s1", disposition="done", by="alice")
    return opened, f.entries[len(opened) :]


def test_an_erasure_while_the_sink_holds_the_session_stays_erased(engine: Engine) -> None:
    opened, closed = _opened_and_closed()
    store = Store(engine, b"k")
    store.ingest(opened)
    assert erase_user(engine, b"k", "+4412").sessions == ["s1"]
    store.ingest(closed)  # the session held in memory still had the user's key
    with engine.connect() as conn:
        row = conn.execute(sa.select(s.sessions)).one()
    assert (row.user_key, row.closed_by) == (None, "alice")


def test_rows_pruned_while_the_sink_holds_them_are_let_go(engine: Engine) -> None:
    opened, closed = _opened_and_closed()
    store = Store(engine, b"k")
    store.ingest(opened)
    assert "c1" in store.cache.tables["contacts"]
    assert prune(engine, 1, ms(0) + 2 * 24 * 3600 * 1000)["contacts"] == 1
    store.ingest(closed)
    assert "c1" not in store.cache.tables["contacts"]  # nothing held that is not stored
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(s.contacts)).scalar() == 0
        session = conn.execute(sa.select(s.sessions)).one()  # open: pruning kept it
    assert session.closed_by == "alice"
