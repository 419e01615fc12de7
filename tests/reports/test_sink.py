"""The sink on the real redis-server and both databases: it resumes after a crash without
losing or double-counting an event, one sink writes at a time, and it survives Redis
losing its consumer group."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest
import redis
import sqlalchemy as sa
from feed import known_sequence, ms
from sqlalchemy.engine import Engine

from reports import schema as s
from reports.errors import ReportsError
from reports.keys import SINK_GROUP
from reports.sink import Sink, SinkSettings
from reports.store import Store
from router.keys import Keys

pytestmark = pytest.mark.redis
KEYS = Keys()


def count(engine: Engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() or 0)


def publish(rds: redis.Redis, entries: list[tuple[str, dict[str, str]]]) -> None:
    for entry_id, fields in entries:
        rds.xadd(KEYS.events(), fields, id=entry_id)


@pytest.fixture
def make_sink(rds: redis.Redis, engine: Engine) -> Iterator:
    made: list[Sink] = []

    def make(**settings: object) -> Sink:
        sink = Sink(rds, KEYS, Store(engine, b"k"), SinkSettings(batch=5, **settings))  # type: ignore[arg-type]
        made.append(sink)
        return sink

    yield make
    for sink in made:
        sink.release()


def test_a_crash_between_commit_and_ack_loses_and_repeats_nothing(
    rds: redis.Redis, engine: Engine, make_sink
) -> None:
    entries = known_sequence().entries
    publish(rds, entries)
    first = make_sink(lease_ms=300)
    assert first.acquire()
    while not first.stats.read:
        first.step(block_ms=1)  # 5 stored and acknowledged
    batch = first.read(block_ms=1)
    first.store.ingest(batch)  # committed ... and the process dies before XACK
    assert rds.xpending(KEYS.events(), SINK_GROUP)["pending"] == 5
    stored = count(engine, s.events)
    assert stored == 10

    second = make_sink(consumer="sink-2")
    deadline = time.monotonic() + 5
    while not second.acquire():  # the dead sink's lease lapses
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert second.drain() == len(entries) - 5  # its pending 5 again, then the rest
    assert count(engine, s.events) == len(entries)
    assert count(engine, s.contacts) == 7
    assert rds.xpending(KEYS.events(), SINK_GROUP)["pending"] == 0
    assert second.stats.stored == len(entries) - 10


def test_one_sink_writes_and_another_stands_by(rds: redis.Redis, make_sink) -> None:
    first, second = make_sink(), make_sink(consumer="standby")
    assert first.acquire()
    assert not second.acquire()
    first.release()
    assert second.acquire()
    second.renew()
    assert second.holding


def test_a_lost_consumer_group_is_made_again_and_nothing_counts_twice(
    rds: redis.Redis, engine: Engine, make_sink
) -> None:
    entries = known_sequence().entries
    publish(rds, entries[:20])
    sink = make_sink()
    assert sink.acquire()
    sink.drain()
    rds.xgroup_destroy(KEYS.events(), SINK_GROUP)  # Redis restarted without its data, say
    publish(rds, entries[20:])
    assert sink.step(block_ms=1) == 0  # NOGROUP: made again from the start of the stream
    sink.drain()
    assert count(engine, s.events) == len(entries)
    with engine.connect() as conn:
        offers = conn.execute(sa.select(s.contacts.c.offers).where(s.contacts.c.request_id == "c2"))
        assert offers.scalar() == 2


def test_the_sink_prunes_once_a_day(rds: redis.Redis, engine: Engine) -> None:
    publish(rds, known_sequence().entries)
    now = [ms(0, hour=12) / 1000]
    sink = Sink(rds, KEYS, Store(engine, b"k"), SinkSettings(retention_days=1), lambda: now[0])
    assert sink.acquire()
    sink.drain()
    sink.housekeeping()  # first run: nothing is a day old yet
    assert count(engine, s.contacts) == 7
    now[0] += 12 * 3600
    sink.housekeeping()  # not a day since the last prune
    assert count(engine, s.contacts) == 7
    now[0] += 12 * 3600 + 1
    sink.housekeeping()
    assert count(engine, s.contacts) == 0
    assert count(engine, s.sessions) == 5  # open sessions stay; s1 closed at 10:00 went
    sink.release()


def test_a_gap_in_the_stream_is_reported(
    rds: redis.Redis, engine: Engine, make_sink, caplog: pytest.LogCaptureFixture
) -> None:
    entries = known_sequence().entries
    publish(rds, entries[:5])
    sink = make_sink()
    assert sink.acquire()
    sink.drain()
    sink.release()
    publish(rds, entries[5:])
    rds.xtrim(KEYS.events(), maxlen=3)  # the sink was down while the stream was trimmed
    with caplog.at_level(logging.WARNING, "implus.reports"):
        assert make_sink().acquire()
    assert "were trimmed" in caplog.text


def test_a_database_keeps_one_domain(rds: redis.Redis, engine: Engine, make_sink) -> None:
    assert make_sink().acquire()
    other = Sink(rds, Keys("other"), Store(engine, b"k"), SinkSettings())
    with pytest.raises(ReportsError, match="give each routing domain its own database"):
        other.acquire()
    assert not other.holding
