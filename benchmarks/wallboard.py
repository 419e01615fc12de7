"""What one wall-board build costs: the live part from Redis, the last hour from SQLite.

    python benchmarks/wallboard.py --json

1. Live: ``--agents`` agents over ``--queues`` queues (every agent in one queue, away, so
   nothing routes), ``--waiting`` chats waiting spread over the queues, on its own
   redis-server. Timed (median of 10): ``queue_stats`` (the router's queue figures, which
   the board shows as they are), ``agent_activities`` (every agent's activity and time in
   it) and one queue's drill-down (``waiting_contacts``). A push builds the first two
   once for every supervisor of the process.
2. History: ``--contacts`` contacts created over the last 6 hours (the board's horizon) in
   a SQLite reports database, 80% answered, 10% abandoned, the rest still waiting; the
   query of the board's last hour (reports.live.recent) is timed (median of 10).

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_processes import log, start_redis, stop  # noqa: E402

from reports import schema as s  # noqa: E402
from reports.db import make_engine, migrate  # noqa: E402
from reports.live import recent  # noqa: E402
from router.client import RouterClient  # noqa: E402
from router.model import AgentProfile  # noqa: E402
from router.supervision import Supervision  # noqa: E402


def median_ms(fn: Callable[[], Any], rounds: int = 10) -> float:
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return round(statistics.median(times) * 1000, 1)


def live(tmp: str, agents: int, queues: int, waiting: int) -> dict[str, float]:
    proc, url, _port = start_redis(tmp)
    try:
        c = RouterClient.from_url(url)
        names = [f"q{i}" for i in range(queues)]
        c.load_strategy(
            "queues:\n"
            + "".join(f"  {q}: {{skills: {{{q}: 1}}}}\n" for q in names)
            + "rules:\n"
            + "".join(
                f'  - {{name: {q}, conditions: service == "{q}", actions: {{queue: {q}}}}}\n'
                for q in names
            )
        )
        for i in range(agents):
            aid = f"a{i}"
            c.upsert_agent(AgentProfile(id=aid, skills={names[i % queues]: 1}))
            c.heartbeat(aid, ttl=3600)
            c.set_status(aid, "away", "benchmark")
        pipe = c.redis.pipeline()
        for i in range(waiting):
            q = names[i % queues]
            sub = c.submit("chat", q, f"u{i}")
            pipe.zadd(c.keys.queue(q, "chat"), {sub.request_id: i})
            pipe.hset(c.keys.request(sub.request_id), "queues", f'["{q}"]')
            pipe.sadd(c.keys.queues(), q)
        pipe.execute()
        sup = Supervision(c)
        everyone = [f"a{i}" for i in range(agents)]
        out = {
            "queue_stats_ms": median_ms(c.queue_stats),
            "agent_activities_ms": median_ms(sup.agent_activities),
            "drill_down_ms": median_ms(lambda: sup.waiting_contacts(names[0], "chat", everyone)),
        }
        c.close()
        return out
    finally:
        stop(proc)


def history(tmp: str, contacts: int) -> dict[str, float]:
    engine = make_engine(f"sqlite:///{tmp}/reports.sqlite3")
    migrate(engine)
    now = int(time.time() * 1000)
    rnd = random.Random(7)
    rows = []
    for i in range(contacts):
        created = now - rnd.randint(0, 6 * 3600 * 1000)
        wait = rnd.randint(1000, 120_000)
        end = created + wait if created + wait < now else None
        outcome = rnd.choice(["answered"] * 8 + ["abandoned"] + ["waiting"]) if end else "waiting"
        rows.append(
            {
                "request_id": f"r{i}", "session_id": f"s{i}",
                "channel": rnd.choice(["chat", "voice"]), "service": "x", "queue": f"q{i % 20}",
                "created_at": created, "first_offer_at": None,
                "offers": 1, "no_answers": 0, "rejects": 0,
                "accepted_at": end if outcome == "answered" else None, "agent": "a",
                "wait_ms": wait, "sl_target_ms": 20_000, "in_sl": int(wait <= 20_000),
                "ended_at": end if outcome == "abandoned" else None, "outcome": outcome,
                "end_reason": "", "handle_ms": None, "wrapup_ms": None, "transferred_out": 0,
                "transferred_from": "",
            }
        )  # fmt: skip
    with engine.begin() as conn:
        conn.execute(s.contacts.insert(), rows)
    with engine.connect() as conn:
        took = median_ms(lambda: recent(conn, now))
    engine.dispose()
    return {"history_sqlite_ms": took}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--agents", type=int, default=1000)
    ap.add_argument("--queues", type=int, default=20)
    ap.add_argument("--waiting", type=int, default=2000)
    ap.add_argument("--contacts", type=int, default=100_000)
    ap.add_argument("--json", action="store_true", help="(the JSON line is always printed)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        log(f"live: {args.agents} agents, {args.queues} queues, {args.waiting} waiting")
        result: dict[str, Any] = {"agents": args.agents, "queues": args.queues}
        result |= {"waiting": args.waiting, "contacts_6h": args.contacts}
        result |= live(tmp, args.agents, args.queues, args.waiting)
        log(f"history: {args.contacts} contacts in the last 6 hours (SQLite)")
        result |= history(tmp, args.contacts)
    log(
        "  board build {:.0f} ms (queue stats {:.0f} + agents {:.0f}); drill-down {:.0f} ms; "
        "last hour {:.0f} ms".format(
            result["queue_stats_ms"] + result["agent_activities_ms"],
            result["queue_stats_ms"],
            result["agent_activities_ms"],
            result["drill_down_ms"],
            result["history_sqlite_ms"],
        )
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
