"""How fast the reports sink stores router events, and how long a month's report takes.

    python benchmarks/report_sink.py --json

1. Route phase (the load to keep up with): a short run of benchmarks/route_throughput.py's
   two phases on its own redis-server - allocation at full speed (domain ``tput``) and
   requests living their whole life at ``--rate`` (domain ``lat``) - and the event rate
   each produced, from the stream ids: ``route_events_per_s`` is the higher one.
2. Sink phase, on SQLite (a file) and on PostgreSQL (a cluster of Debian's package with
   its default durability): `implus reports sink`'s own code (reports.sink.Sink) stores
   both streams, each into its own database; events/s = stream entries / time. Reference
   in the same run and database: the same ``events`` rows written the plain fast way
   (COPY on PostgreSQL, executemany on SQLite), one transaction per 1,000
   (``*_raw_insert_rows_per_s``).
3. Report phase: a month of history (``--contacts`` contacts over ``--days`` days, offers,
   status changes and the slot sums the sink keeps) is loaded, then the queue report per
   hour over the whole month is timed (best of 3) on each database (``report_30d_s`` is
   the slower), and the agent report per day beside it.

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import route_throughput as rt  # noqa: E402
from bench_processes import start_redis  # noqa: E402
from report_history import load  # noqa: E402

from devstack.postgres import PostgresCluster  # noqa: E402
from reports import schema as s  # noqa: E402
from reports.db import insert_rows, make_engine, migrate  # noqa: E402
from reports.events import event_row, from_stream  # noqa: E402
from reports.figures import report  # noqa: E402
from reports.periods import parse_period  # noqa: E402
from reports.sink import Sink, SinkSettings  # noqa: E402
from reports.store import Store  # noqa: E402
from router.keys import Keys  # noqa: E402

DOMAINS = ("tput", "lat")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def entries(rds: redis.Redis, domain: str) -> list[tuple[str, dict[str, str]]]:
    key, out, start = Keys(domain).events(), [], "-"
    while True:
        chunk = rds.xrange(key, start, "+", count=10_000)
        out += chunk
        if len(chunk) < 10_000:
            return out
        start = "(" + chunk[-1][0]


def window_rate(rows: list[tuple[str, dict[str, str]]], first: str, last: str) -> dict[str, float]:
    """Events per second between the first event of type ``first`` and the last of type
    ``last`` (stream-id times, Redis's clock)."""
    ms = [int(i.split("-")[0]) for i, _ in rows]
    t0 = next(m for m, (_, f) in zip(ms, rows, strict=True) if f.get("type") == first)
    t1 = max(m for m, (_, f) in zip(ms, rows, strict=True) if f.get("type") == last)
    n = sum(1 for m in ms if t0 <= m <= t1)
    seconds = max(0.001, (t1 - t0) / 1000)
    return {"events": n, "seconds": round(seconds, 3), "events_per_s": n / seconds}


def route_phase(args: argparse.Namespace, url: str, tmp: Path) -> dict[str, Any]:
    result: dict[str, Any] = {}
    result.update(
        rt.throughput(
            url, args.route_agents, args.route_requests, args.workers, tmp, None, "longest_idle"
        )
    )
    result.update(
        rt.latency(
            url, args.route_agents, args.rate, args.seconds, args.workers, tmp, "longest_idle"
        )
    )
    rds = redis.Redis.from_url(url, decode_responses=True)
    tput = window_rate(entries(rds, "tput"), "offer.created", "offer.created")
    lat = window_rate(entries(rds, "lat"), "request.created", "contact.ended")
    log(
        f"route events: allocation {tput['events_per_s']:,.0f}/s ({tput['events']} in "
        f"{tput['seconds']:.1f}s), request lives {lat['events_per_s']:,.0f}/s ({lat['events']} "
        f"in {lat['seconds']:.1f}s)"
    )
    return {
        "route_assignments_per_s": round(result["assignments_per_s"], 1),
        "route_latency_rate_per_s": round(result["latency_rate_per_s"], 1),
        "route_tput_events_per_s": round(tput["events_per_s"], 1),
        "route_lat_events_per_s": round(lat["events_per_s"], 1),
        "route_events_per_s": round(max(tput["events_per_s"], lat["events_per_s"]), 1),
    }


def raw_insert_rate(engine: sa.Engine, rows: list[dict[str, Any]]) -> float:
    scratch = sa.MetaData()
    table = s.events.to_metadata(scratch, name="raw_events")
    scratch.create_all(engine)
    t = time.perf_counter()
    for i in range(0, len(rows), 1000):
        with engine.begin() as conn:
            insert_rows(conn, table, rows[i : i + 1000])
    return len(rows) / (time.perf_counter() - t)


def sink_phase(name: str, make_url: Callable[[str], str], url: str, batch: int) -> dict[str, Any]:
    rds = redis.Redis.from_url(url, decode_responses=True)
    total, seconds = 0, 0.0
    for domain in DOMAINS:
        engine = make_engine(make_url(f"{domain}"))
        migrate(engine)
        store = Store(engine, b"benchmark-key")
        sink = Sink(rds, Keys(domain), store, SinkSettings(batch=batch, consumer=f"bench-{name}"))
        rds.delete(f"{Keys(domain).prefix}reports:sink")
        with contextlib.suppress(redis.ResponseError):  # the other database's pass made it
            rds.xgroup_destroy(Keys(domain).events(), "reports")
        assert sink.acquire()
        t = time.perf_counter()
        n = sink.drain()
        seconds += time.perf_counter() - t
        sink.release()
        total += n
        with engine.connect() as conn:
            stored = conn.execute(sa.select(sa.func.count()).select_from(s.events)).scalar()
        assert stored == n, f"{stored} stored of {n}"
        engine.dispose()
    rows = [event_row(from_stream(i, f)) for d in DOMAINS for i, f in entries(rds, d)]
    ref_engine = make_engine(make_url("raw"))
    raw = raw_insert_rate(ref_engine, rows)
    ref_engine.dispose()
    rate = total / seconds
    log(
        f"{name}: sink {rate:,.0f} events/s ({total} in {seconds:.1f}s); "
        f"raw insert {raw:,.0f} rows/s"
    )
    return {
        f"{name}_events_per_s": round(rate, 1),
        f"{name}_raw_insert_rows_per_s": round(raw, 1),
        f"{name}_sink_events": total,
    }


def report_phase(name: str, url: str, contacts: int, days: int) -> dict[str, Any]:
    engine = make_engine(url)
    migrate(engine)
    period = parse_period("2026-10-01", "2026-10-31", "hour")
    t = time.perf_counter()
    counts = load(engine, period.start_ms, days, contacts)
    log(f"{name}: history loaded in {time.perf_counter() - t:.0f}s: {counts}")
    timings: dict[str, list[float]] = {"queue_hour": [], "agent_day": []}
    for kind, interval, label in (("queue", "hour", "queue_hour"), ("agent", "day", "agent_day")):
        p = parse_period("2026-10-01", "2026-10-31", interval)
        for _ in range(3):
            t = time.perf_counter()
            with engine.connect() as conn:
                rows = report(conn, kind, p, p.end_ms)
            timings[label].append(time.perf_counter() - t)
        log(f"{name}: {kind} report per {interval} over 30 days: {len(rows)} rows in "
            + ", ".join(f"{x:.2f}s" for x in timings[label]))  # fmt: skip
    engine.dispose()
    return {
        f"{name}_report_30d_s": round(min(timings["queue_hour"]), 3),
        f"{name}_agent_report_30d_s": round(min(timings["agent_day"]), 3),
        f"{name}_report_30d_runs_s": [round(x, 3) for x in timings["queue_hour"]],
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--route-agents", type=int, default=2000)
    ap.add_argument("--route-requests", type=int, default=10_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--rate", type=int, default=1000, help="arrivals per second, latency phase")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument(
        "--batch",
        type=int,
        default=SinkSettings.batch,
        help="sink batch (most entries per transaction; default: the sink's)",
    )
    ap.add_argument("--contacts", type=int, default=1_000_000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--json", action="store_true", help="print the JSON result line (always last)")
    args = ap.parse_args()
    result: dict[str, Any] = {"cpus": os.cpu_count(), "contacts": args.contacts, "days": args.days}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        proc, url, _port = start_redis(tmp_name)
        pg = PostgresCluster(durable=True)
        pg.start()
        try:
            result.update(route_phase(args, url, tmp))
            result.update(
                sink_phase("sqlite", lambda n: f"sqlite:///{tmp / n}.sqlite3", url, args.batch)
            )
            result.update(
                sink_phase("postgres", lambda n: pg.create_database(f"sink_{n}"), url, args.batch)
            )
            result.update(
                report_phase(
                    "sqlite", f"sqlite:///{tmp / 'month.sqlite3'}", args.contacts, args.days
                )
            )
            result.update(
                report_phase("postgres", pg.create_database("month"), args.contacts, args.days)
            )
        finally:
            pg.stop()
            proc.terminate()
            proc.wait(10)
    target = 2 * result["route_events_per_s"]
    result["sink_target_events_per_s"] = round(target, 1)
    result["sqlite_keeps_up"] = result["sqlite_events_per_s"] >= target
    result["postgres_keeps_up"] = result["postgres_events_per_s"] >= target
    result["report_30d_s"] = max(result["sqlite_report_30d_s"], result["postgres_report_30d_s"])
    result["report_under_2s"] = result["report_30d_s"] < 2.0
    print(json.dumps(result))


if __name__ == "__main__":
    main()
