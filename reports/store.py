"""Writing a batch of router events into the reports database, once each.

:meth:`Store.ingest` is one transaction: the events not stored yet (newer than ``meta.last_id``,
the newest stream entry id stored; the ``events`` primary key is the entry id) are
inserted, folded into the rows they change (:mod:`reports.fold`) and those rows written
back. The sink acknowledges the entries only after this commits, so a crash between the
two re-reads entries that are then skipped: nothing is lost, nothing is counted twice.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection, Engine

from reports import schema as s
from reports.cache import RowCache
from reports.db import add_counts, get_meta, insert_rows, set_meta, upsert
from reports.errors import ReportsError
from reports.events import SinkEvent, event_row, from_stream, id_key
from reports.fold import Context, Rows, Wanted, apply, wanted
from reports.rollup import MAXIMA, changes, contact_vectors, offer_vectors

SECRET_ENV = "IMPLUS_REPORTS_SECRET"  # noqa: S105 (the name of the variable)
LAST_ID = "last_id"
ROWS_CHANGED = "rows_changed"
"""A ``meta`` value that prunes and erasures change: the sink's cached rows are stale."""
MARKS = (LAST_ID, ROWS_CHANGED)
CHUNK = 500
"""Keys per ``IN (...)`` list when loading rows (SQLite)."""


def user_key_secret(engine: Engine, env: Mapping[str, str] | None = None) -> bytes:
    """The key of the user-id hash: ``IMPLUS_REPORTS_SECRET`` if set (recommended: then the
    database alone cannot be searched for a phone number), else a random one the database
    keeps in ``meta`` (made on first use)."""
    env = os.environ if env is None else env
    if env.get(SECRET_ENV):
        return env[SECRET_ENV].encode()
    with engine.begin() as conn:
        value = get_meta(conn, "user_key_secret")
        if value is None:
            value = secrets.token_hex(32)
            set_meta(conn, "user_key_secret", value)
    return value.encode()


def user_key(secret: bytes, user_id: str) -> str:
    """The keyed hash a session keeps instead of its user id."""
    return hmac.new(secret, user_id.encode(), hashlib.sha256).hexdigest()


class Store:
    """The sink's side of the database. ``lookup`` gives the service-level targets (ms per
    queue) of a strategy version; ``version`` is the one in force when nothing stored
    says otherwise (the sink reads both from the router's Redis)."""

    def __init__(
        self,
        engine: Engine,
        secret: bytes,
        lookup: Callable[[int], Mapping[str, int] | None] | None = None,
        version: int | None = None,
    ) -> None:
        self.engine = engine
        self.secret = secret
        self.ctx = Context(self.user_key, lookup or (lambda _v: None))
        self._initial_version = version
        self._started = False
        self.cache = RowCache()
        self._mark: tuple[str | None, str | None, int] | None = None
        """``last_id``, ``rows_changed`` and the entries stored, as this store's last
        commit left them (None: unknown, the cache is not trusted)."""

    def user_key(self, user_id: str) -> str:
        return user_key(self.secret, user_id)

    def use_strategies(
        self, lookup: Callable[[int], Mapping[str, int] | None], version: int | None
    ) -> None:
        """Where service-level targets come from (the sink: the router's Redis)."""
        self.ctx.lookup = lookup
        self._initial_version = version
        self._started = False

    def ingest(self, entries: Sequence[tuple[str, Mapping[str, str] | None]]) -> int:
        """Store the stream entries ``(id, fields)`` (in stream order) not stored yet, in
        one transaction. Entries trimmed from the stream (fields None) are skipped.
        Returns how many were new."""
        events = [from_stream(i, f) for i, f in entries if f]
        if not events:
            return 0
        try:
            with self.engine.begin() as conn:
                done = self._ingest(conn, events)
        except BaseException:
            self.cache.clear()  # its rows may hold what the rollback undid
            self._mark = None
            raise
        if done is None:
            return 0
        rows, agents, mark = done
        self.cache.keep(rows, agents)
        self._mark = mark
        return mark[2]

    def _ingest(
        self, conn: Connection, events: list[SinkEvent]
    ) -> tuple[Rows, frozenset[str], tuple[str | None, str | None, int]] | None:
        self._start(conn)
        marks = dict(
            conn.execute(
                sa.select(s.meta.c.key, s.meta.c.value).where(s.meta.c.key.in_(MARKS))
            ).all()
        )
        last, changed = marks.get(LAST_ID), marks.get(ROWS_CHANGED)
        if self._mark is None or self._mark[:2] != (last, changed):
            self.cache.clear()  # another writer, a prune or an erasure: read rows afresh
            self._mark = (last, changed, 0)
        # One writer stores entries in stream order and commits each batch whole, so
        # everything up to the newest id stored is in; the primary key refuses the rest.
        floor = id_key(last) if last else (-1, -1)
        fresh = [e for e in events if id_key(e.id) > floor]
        if not fresh:
            return None
        insert_rows(conn, s.events, [event_row(e) for e in fresh])
        want = wanted(fresh)
        rows = self._load(conn, want)
        before = {("contacts", k): contact_vectors(r) for k, r in rows.contacts.items()} | {
            ("offers", k): offer_vectors(r) for k, r in rows.offers.items()
        }
        version = self.ctx.version
        for e in fresh:
            apply(rows, e, self.ctx)
        for name, table in s.ROW_TABLES.items():
            upsert(conn, table, rows.changed(name))
        self._add_slots(conn, rows, before)
        newest = max(fresh, key=lambda e: id_key(e.id)).id
        set_meta(conn, LAST_ID, newest)
        if self.ctx.version != version and self.ctx.version is not None:
            set_meta(conn, "strategy_version", str(self.ctx.version))
        return rows, want.agents, (newest, changed, len(fresh))

    def _start(self, conn: Connection) -> None:
        """The strategy in force: the last one folded, else the one the sink was given."""
        if self._started:
            return
        stored = get_meta(conn, "strategy_version")
        version = int(stored) if stored else self._initial_version
        if version is not None:
            self.ctx.load(version)
        self._started = True

    @staticmethod
    def _add_slots(conn: Connection, rows: Rows, before: Mapping[Any, Any]) -> None:
        old: list[Any] = []
        new: list[Any] = []
        for table, parts_of in (("contacts", contact_vectors), ("offers", offer_vectors)):
            held: dict[str, Any] = getattr(rows, table)
            for k in rows.dirty[table]:
                was, now = before.get((table, k), []), parts_of(held[k])
                if was != now:  # most events change no sum (an offer made, a session event)
                    old += was
                    new += now
        by_table: dict[str, list[dict[str, Any]]] = {t: [] for t in s.SLOT_TABLES}
        for (table, key), sums in sorted(changes(old, new).items()):
            t = s.SLOT_TABLES[table]
            names = [c.name for c in t.primary_key.columns]
            full = dict.fromkeys((c.name for c in t.columns), 0) | dict(
                zip(names, key, strict=True)
            )
            by_table[table].append(full | sums)
        for table, slot_rows in by_table.items():
            add_counts(conn, s.SLOT_TABLES[table], slot_rows, maxima=MAXIMA)
        # a contact that moved to another queue leaves a row of zeros: drop it
        t = s.contact_slots
        emptied = [r for r in by_table["contact_slots"] if r["offered"] < 0]
        for r in emptied:
            conn.execute(
                sa.delete(t).where(
                    t.c.slot_at == r["slot_at"],
                    t.c.dimension == r["dimension"],
                    t.c.key == r["key"],
                    t.c.offered == 0,
                )
            )

    def claim_domain(self, domain: str) -> None:
        """Tie the database to one routing domain's events stream (stream ids, and so the
        ``last_id`` mark, mean something in one stream only)."""
        self.cache.clear()
        self._mark = None
        with self.engine.begin() as conn:
            held = get_meta(conn, "domain")
            if held is None:
                set_meta(conn, "domain", domain)
            elif held != domain:
                raise ReportsError(
                    f"this reports database holds the events of domain {held!r}, not "
                    f"{domain!r}: give each routing domain its own database (--database-url)"
                )

    def last_id(self) -> str | None:
        """The newest stream entry id stored."""
        with self.engine.connect() as conn:
            return get_meta(conn, LAST_ID)

    def _load(self, conn: Connection, want: Wanted) -> Rows:
        """The rows the batch needs: from the cache, else from the database."""
        rows = Rows()
        keys = (("contacts", want.requests), ("offers", want.offers), ("sessions", want.sessions))
        for name, wanted_keys in keys:
            held, missing = self.cache.split(name, wanted_keys)
            table = s.ROW_TABLES[name]
            held.update(_by_key(conn, table, table.c[s.key_of(table)], missing))
            setattr(rows, name, held)
        known, missing = self.cache.agents(want.agents)
        for agent, row in known.items():
            if row is not None:
                rows.agent_periods[row["id"]] = row
                rows.open_periods[agent] = row["id"]
        p = s.agent_periods
        for chunk in _chunks(conn, sorted(missing)):
            is_open = (_among(conn, p.c.agent, chunk), p.c.end_at.is_(None))
            for r in conn.execute(sa.select(p).where(*is_open)):
                row = dict(r._mapping)
                rows.agent_periods[row["id"]] = row
                previous = rows.open_periods.get(row["agent"])
                if previous is None or row["start_at"] >= rows.agent_periods[previous]["start_at"]:
                    rows.open_periods[row["agent"]] = row["id"]
        return rows


def _by_key(
    conn: Connection, table: sa.Table, column: sa.Column[Any], keys: Iterable[str]
) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for chunk in _chunks(conn, sorted(keys)):
        for r in conn.execute(sa.select(table).where(_among(conn, column, chunk))):
            row = dict(r._mapping)
            out[row[column.name]] = row
    return out


def _among(conn: Connection, column: sa.Column[Any], keys: list[str]) -> Any:
    """``column IN keys``; on PostgreSQL ``= ANY`` of one array parameter (one statement
    text whatever the count, which psycopg and the server parse once)."""
    if conn.dialect.name == "postgresql":
        return column == sa.any_(sa.bindparam("keys", keys, type_=ARRAY(sa.String)))
    return column.in_(keys)


def _chunks(conn: Connection, items: list[str]) -> list[list[str]]:
    if conn.dialect.name == "postgresql":
        return [items] if items else []
    return [items[i : i + CHUNK] for i in range(0, len(items), CHUNK)]


__all__ = ["SinkEvent", "Store", "user_key", "user_key_secret"]
