"""Connecting to the reports database and keeping its schema current (Alembic).

SQLite (a file under the data folder, nothing to install) is the default; PostgreSQL is
for production (``postgresql://user:password@host/dbname``, driver psycopg 3).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from importlib.resources import files
from operator import itemgetter
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.schema import CreateTable

from reports.errors import DatabaseUnavailable, NotMigrated
from reports.schema import ROW_TABLES, SLOT_TABLES, key_of, meta

DATA_DIR_ENV = "IMPLUS_DATA_DIR"
URL_ENV = "IMPLUS_REPORTS_DATABASE_URL"
DEFAULT_DATA_DIR = "var"
SQLITE_FILE = "reports.sqlite3"
VERSION_TABLE = "reports_version"


def database_url(explicit: str = "", env: Mapping[str, str] | None = None) -> str:
    """The reports database to use: ``explicit``, else ``IMPLUS_REPORTS_DATABASE_URL``, else
    the SQLite file ``reports.sqlite3`` in the data folder (``IMPLUS_DATA_DIR``, ``var``)."""
    env = os.environ if env is None else env
    if explicit:
        return explicit
    if env.get(URL_ENV):
        return env[URL_ENV]
    folder = Path(env.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR)
    return f"sqlite:///{folder / SQLITE_FILE}"


def safe_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "<unparsable database URL>"


def make_engine(url: str) -> Engine:
    """An engine for a SQLite file (created with its folder) or a PostgreSQL database.

    SQLite runs in WAL mode, so the chat service reads reports while the sink writes.
    """
    try:
        u = make_url(url)
    except sa.exc.ArgumentError:
        raise DatabaseUnavailable(
            f"bad reports database URL {safe_url(url)}: use sqlite:///path/reports.sqlite3 "
            "or postgresql://user:password@host/dbname"
        ) from None
    backend = u.get_backend_name()
    if backend == "sqlite":
        if u.database and u.database != ":memory:":
            Path(u.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(u, connect_args={"timeout": 30})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if backend in ("postgresql", "postgres"):
        if u.drivername in ("postgresql", "postgres"):
            u = u.set(drivername="postgresql+psycopg")
        return sa.create_engine(u, pool_pre_ping=True)
    raise DatabaseUnavailable(
        f"reports databases are SQLite or PostgreSQL, not {backend!r} ({safe_url(url)})"
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")  # readers never block the sink, nor it them
    cur.execute("PRAGMA synchronous=NORMAL")  # durable across crashes of the process
    cur.close()


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration for the migrations shipped in ``reports/migrations``."""
    cfg = Config()
    cfg.set_main_option("script_location", str(files("reports") / "migrations"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head() -> str:
    """The newest schema revision this code knows."""
    current = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert current is not None
    return current


def revision(engine: Engine) -> str | None:
    """The database's schema revision (None when it has none yet)."""
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
            return ctx.get_current_revision()
    except sa.exc.OperationalError as e:
        raise unavailable(engine, e) from e


def migrate(engine: Engine) -> str:
    """Bring the schema to the newest revision (idempotent); returns that revision."""
    try:
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), "head")
    except sa.exc.OperationalError as e:
        raise unavailable(engine, e) from e
    return head()


def check_schema(engine: Engine) -> None:
    """Raise NotMigrated unless the database has the newest schema."""
    have, want = revision(engine), head()
    if have != want:
        raise NotMigrated(
            f"the reports database {safe_url(str(engine.url))} has schema "
            f"{have or 'none'}, this implus needs {want}: run `implus reports migrate` "
            "(the sink also migrates when it starts)"
        )


def unavailable(engine: Engine, error: Exception) -> DatabaseUnavailable:
    first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return DatabaseUnavailable(
        f"the reports database {safe_url(str(engine.url))} cannot be used ({first}): check "
        "that it is running and the URL (IMPLUS_REPORTS_DATABASE_URL) is right"
    )


def get_meta(conn: Connection, key: str) -> str | None:
    """A value of the ``meta`` table (None if unset)."""
    return conn.execute(sa.select(meta.c.value).where(meta.c.key == key)).scalar_one_or_none()


def set_meta(conn: Connection, key: str, value: str) -> None:
    upsert(conn, meta, [{"key": key, "value": value}])


def upsert(conn: Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (whole rows) or overwrite the ones whose primary key exists."""
    if not rows:
        return
    key = key_of(table)

    def on_conflict(stmt: Any) -> Any:
        return stmt.on_conflict_do_update(
            index_elements=[key],
            set_={c.name: stmt.excluded[c.name] for c in table.columns if c.name != key},
        )

    _write(conn, table, rows, on_conflict, "upsert")


def add_counts(
    conn: Connection,
    table: sa.Table,
    rows: Sequence[Mapping[str, Any]],
    maxima: Sequence[str] = (),
) -> None:
    """Add ``rows`` (primary key + every other column) to the rows with the same primary
    key, or insert them; columns in ``maxima`` keep the larger value instead."""
    if not rows:
        return
    keys = [c.name for c in table.primary_key.columns]

    def on_conflict(stmt: Any) -> Any:
        changes: dict[str, Any] = {}
        for c in table.columns:
            if c.name in keys:
                continue
            if c.name in maxima:
                changes[c.name] = sa.case(
                    (stmt.excluded[c.name] > table.c[c.name], stmt.excluded[c.name]),
                    else_=table.c[c.name],
                )
            else:
                changes[c.name] = table.c[c.name] + stmt.excluded[c.name]
        return stmt.on_conflict_do_update(index_elements=keys, set_=changes)

    _write(conn, table, rows, on_conflict, f"add_counts:{','.join(sorted(maxima))}")


STAGE_MIN = 20
"""Rows from which PostgreSQL gets them through a staging table (below: executemany)."""
_stages: dict[str, sa.Table] = {}
_statements: dict[tuple[str, str], Any] = {}
_STAGED = "implus_staged_in"
"""``Connection.info`` key: the transaction the staging tables were made (sure) in."""


def _stage(table: sa.Table) -> sa.Table:
    """The temporary table ``table``'s rows are copied into before one INSERT ... SELECT."""
    if table.name not in _stages:
        _stages[table.name] = sa.Table(
            f"stage_{table.name}",
            sa.MetaData(),
            *[sa.Column(c.name, c.type) for c in table.columns],
            prefixes=["TEMPORARY"],
            postgresql_on_commit="DELETE ROWS",
        )
    return _stages[table.name]


def _write(
    conn: Connection,
    table: sa.Table,
    rows: Sequence[Mapping[str, Any]],
    on_conflict: Callable[[Any], Any],
    variant: str,
) -> None:
    """``INSERT ... ON CONFLICT`` of many rows at once (``variant`` names what
    ``on_conflict`` does, for the statement cache). PostgreSQL: COPY into a temporary
    table, then one ``INSERT ... SELECT`` (psycopg's executemany sends one statement per
    row); SQLite: the DB-API executemany of one compiled statement (in-process, cheap)."""
    dialect = conn.dialect.name
    cache_key = (table.name, f"{dialect}:{variant}")
    if dialect != "postgresql":
        if cache_key not in _statements:
            compiled = on_conflict(sqlite.insert(table)).compile(dialect=conn.dialect)
            _statements[cache_key] = (str(compiled), list(compiled.positiontup or ()))
        sql, order = _statements[cache_key]
        conn.exec_driver_sql(sql, _tuples(rows, order))
        return
    if len(rows) < STAGE_MIN:
        conn.execute(on_conflict(postgresql.insert(table)), list(rows))
        return
    stage = _stage(table)
    names = [c.name for c in table.columns]
    if cache_key not in _statements:
        # the staged rows leave the stage as they are written: a second write of the table
        # in the same transaction finds it empty
        moved = sa.delete(stage).returning(*stage.c).cte(f"moved_{table.name}")
        select = sa.select(*[moved.c[n] for n in names])
        insert = postgresql.insert(table).from_select(names, select).add_cte(moved)
        _statements[cache_key] = on_conflict(insert)
    if conn.info.get(_STAGED) is not conn.get_transaction():
        _make_stages(conn)
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(f"COPY {stage.name} ({', '.join(names)}) FROM STDIN") as copy:
        for row in _tuples(rows, names):
            copy.write_row(row)
    conn.execute(_statements[cache_key])


def _make_stages(conn: Connection) -> None:
    """Every staging table, in one round trip (``IF NOT EXISTS``: they live as long as the
    session; made again after a rollback that undid their creation)."""
    tables = [_stage(t) for t in (*ROW_TABLES.values(), *SLOT_TABLES.values())]
    ddl = [str(CreateTable(t, if_not_exists=True).compile(dialect=conn.dialect)) for t in tables]
    conn.exec_driver_sql(";\n".join(s.strip() for s in ddl))
    conn.info[_STAGED] = conn.get_transaction()


def _tuples(rows: Sequence[Mapping[str, Any]], names: Sequence[str]) -> list[tuple[Any, ...]]:
    """The values of ``rows`` in the order of ``names``."""
    if len(names) == 1:
        return [(r[names[0]],) for r in rows]
    get = itemgetter(*names)
    return [get(r) for r in rows]


def insert_rows(conn: Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert many new rows at once: COPY on PostgreSQL (psycopg's executemany sends one
    statement per row), the DB-API executemany of one compiled statement on SQLite."""
    if not rows:
        return
    names = [c.name for c in table.columns]
    if conn.dialect.name != "postgresql":
        cache_key = (table.name, "sqlite:insert")
        if cache_key not in _statements:
            compiled = sa.insert(table).compile(dialect=conn.dialect)
            _statements[cache_key] = (str(compiled), list(compiled.positiontup or ()))
        sql, order = _statements[cache_key]
        conn.exec_driver_sql(sql, [tuple(r.get(n) for n in order) for r in rows])
        return
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(f"COPY {table.name} ({', '.join(names)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([row.get(n) for n in names])
