"""`implus reports`: migrate the database, run the sink, print reports, prune, erase.

Every subcommand takes the database from ``--database-url`` (env
``IMPLUS_REPORTS_DATABASE_URL``), else the SQLite file ``reports.sqlite3`` in the data
folder (``--data-dir``, env ``IMPLUS_DATA_DIR``, default ``var``).
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import time
from typing import Any

import click

REDIS_URL = click.option(
    "--redis-url",
    envvar="IMPLUS_REDIS_URL",
    default="redis://127.0.0.1:6379/0",
    show_default=True,
    help="Redis holding the router's events (env IMPLUS_REDIS_URL).",
)
DOMAIN = click.option(
    "--domain",
    envvar="IMPLUS_DOMAIN",
    default="default",
    show_default=True,
    help="Routing domain whose events are kept.",
)
RETENTION = click.option(
    "--retention-days",
    envvar="IMPLUS_REPORTS_RETENTION_DAYS",
    type=click.IntRange(1, 36_500),
    default=400,
    show_default=True,
    help="Days of history kept (env IMPLUS_REPORTS_RETENTION_DAYS).",
)


@click.group(name="reports")
@click.option(
    "--database-url",
    envvar="IMPLUS_REPORTS_DATABASE_URL",
    default="",
    help="sqlite:///path or postgresql://user:pass@host/db (env IMPLUS_REPORTS_DATABASE_URL).",
)
@click.option(
    "--data-dir",
    envvar="IMPLUS_DATA_DIR",
    default="var",
    show_default=True,
    help="Folder of the default SQLite file reports.sqlite3 (env IMPLUS_DATA_DIR).",
)
@click.pass_context
def reports_group(ctx: click.Context, database_url: str, data_dir: str) -> None:
    """Keep routing and call history in SQL and report on it (docs/reports.md)."""
    from reports.db import database_url as resolve

    ctx.obj = {"url": resolve(database_url, {"IMPLUS_DATA_DIR": data_dir})}


def _engine(url: str, migrate: bool = False) -> Any:
    from reports.db import check_schema, make_engine
    from reports.db import migrate as run_migrations
    from reports.errors import ReportsError

    try:
        engine = make_engine(url)
        click.get_current_context().call_on_close(engine.dispose)
        if migrate:
            run_migrations(engine)
        else:
            check_schema(engine)
    except ReportsError as e:
        raise click.ClickException(str(e)) from None
    return engine


@reports_group.command()
@click.pass_obj
def migrate(obj: dict[str, str]) -> None:
    """Create or upgrade the reports tables (safe to run again)."""
    from reports.db import revision, safe_url

    engine = _engine(obj["url"], migrate=True)
    click.echo(f"{safe_url(obj['url'])}: schema at revision {revision(engine)}")


@reports_group.command()
@REDIS_URL
@DOMAIN
@RETENTION
@click.option(
    "--batch",
    type=click.IntRange(1, 10_000),
    default=5000,  # reports.sink.SinkSettings.batch
    show_default=True,
)
@click.option("--consumer", default="sink", show_default=True, help="Consumer name in the group.")
@click.pass_obj
def sink(
    obj: dict[str, str], redis_url: str, domain: str, retention_days: int, batch: int, consumer: str
) -> None:
    """Follow the router's events into the database until stopped (SIGTERM / Ctrl-C)."""
    import redis

    from reports.db import safe_url
    from reports.errors import ReportsError
    from reports.sink import Sink, SinkSettings
    from reports.store import Store, user_key_secret
    from router.connect import redis_from_url
    from router.errors import InvalidInput
    from router.keys import Keys

    logging.basicConfig(level=logging.INFO, format="%(asctime)s reports %(levelname)s %(message)s")
    engine = _engine(obj["url"], migrate=True)
    try:
        rds = redis_from_url(redis_url)
    except InvalidInput as e:
        raise click.ClickException(f"--redis-url: {e}") from None
    try:
        rds.ping()
    except redis.RedisError as e:
        raise click.ClickException(
            f"cannot reach Redis ({e}): start redis-server or pass --redis-url"
        ) from None
    settings = SinkSettings(batch=batch, consumer=consumer, retention_days=retention_days)
    worker = Sink(rds, Keys(domain), Store(engine, user_key_secret(engine)), settings)
    signal.signal(signal.SIGTERM, lambda *_: worker.stop())
    signal.signal(signal.SIGINT, lambda *_: worker.stop())
    click.echo(f"implus reports sink: {domain!r} events -> {safe_url(obj['url'])}; Ctrl-C stops")
    try:
        worker.run()
    except ReportsError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"stopped: {worker.stats.stored} events stored this run")


@reports_group.command()
@RETENTION
@click.pass_obj
def prune(obj: dict[str, str], retention_days: int) -> None:
    """Delete history older than the retention now (the sink does it daily)."""
    from reports.retention import prune as run_prune

    deleted = run_prune(_engine(obj["url"]), retention_days, int(time.time() * 1000))
    click.echo(
        f"deleted what is older than {retention_days} days: "
        + ", ".join(f"{n} {t}" for t, n in deleted.items())
    )


@reports_group.command()
@click.option("--user", "user_id", required=True, help="The customer's user id (as routed).")
@click.pass_obj
def erase(obj: dict[str, str], user_id: str) -> None:
    """Answer an erasure request: untie USER's sessions from them in the reports."""
    from reports.retention import erase_user
    from reports.store import user_key_secret

    engine = _engine(obj["url"])
    erased = erase_user(engine, user_key_secret(engine), user_id)
    click.echo(
        f"{len(erased.sessions)} session(s) no longer tied to that user in the reports"
        + (f": {', '.join(erased.sessions)}" if erased.sessions else "")
    )
    click.echo("The router's Redis keeps the transcripts themselves; erase them there as well.")


@reports_group.command()
@click.argument("kind", type=click.Choice(["queue", "agent", "channel", "service"]))
@click.option("--from", "start", required=True, help="2026-12-01 or 2026-12-01T08:00")
@click.option("--to", "end", default="", help="Default: the day after a --from date.")
@click.option(
    "--interval",
    type=click.Choice(["15m", "hour", "day", "total"]),
    default="hour",
    show_default=True,
)
@click.option("--tz", default="UTC", show_default=True, help="IANA time zone of the dates.")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv")
@click.pass_obj
def show(
    obj: dict[str, str],
    kind: str,
    start: str,
    end: str,
    interval: str,
    tz: str,
    fmt: str,
) -> None:
    """Print a report per KIND (queue, agent, channel or service)."""
    from reports.errors import ReportsError
    from reports.export import to_csv
    from reports.figures import columns, report
    from reports.periods import parse_period

    try:
        period = parse_period(start, end, interval, tz)
    except ReportsError as e:
        raise click.BadParameter(str(e)) from None
    engine = _engine(obj["url"])
    with engine.connect() as conn:
        rows = report(conn, kind, period, int(time.time() * 1000))
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
    else:
        sys.stdout.write(to_csv(rows, columns(kind)))


@reports_group.command()
@click.pass_obj
def status(obj: dict[str, str]) -> None:
    """Schema revision, newest event stored and rows per table."""
    import sqlalchemy as sa

    from reports import schema as s
    from reports.db import get_meta, revision, safe_url

    engine = _engine(obj["url"])
    with engine.connect() as conn:
        click.echo(f"{safe_url(obj['url'])}: schema {revision(engine)}")
        click.echo(f"newest event stored: {get_meta(conn, 'last_id') or 'none yet'}")
        for name in ("events", *s.ROW_TABLES):
            table = s.metadata.tables[name]
            n = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar()
            click.echo(f"  {name:<14} {n:>10} rows")
