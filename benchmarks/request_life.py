"""CPU per request of a request's whole life, one request at a time (no queueing, no batching).

    python benchmarks/request_life.py --requests 2000 --json

The latency phase of route_throughput.py measures CPU per request at 1,000 requests/s, but
there the figure depends on how far behind the worker falls: a worker that is behind reads
its work in batches and spends less per request, so a slower tree can look cheaper. Here
each request lives alone: the desktop submits it, an in-process allocation worker takes
its work item, the desktop reads the `offer.created` event, accepts and completes it, and
the worker takes any work item that filed (a freed agent with a request waiting). Same
10,000 agents and strategy as route_throughput.py; the worker's periodic chores (timers,
sweep, reaper) are off so that only the request's own work is counted.

Reported per request: redis-server CPU (/proc), the worker's CPU and the desktop's CPU
(thread time), worker rounds that found work, Redis read events (round trips) and the
Redis time in scripts (INFO commandstats EVALSHA, which includes the commands a script runs).
The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_processes import cpu_seconds, log, start_redis
from route_load import STRATEGY, drop_agent_wakeups, make_agents, submit_steps

from router.client import RouterClient
from router.ops import Batch, Script
from router.worker.loop import Worker
from router.worker.settings import WorkerSettings

CHORES_OFF = WorkerSettings(
    timer_interval_ms=10**9, reaper_interval_ms=10**9, housekeeping_interval_s=1e9,
    sweep_interval_s=0,
)  # fmt: skip


def lives(url: str, agents: int, requests: int) -> dict[str, Any]:
    client = RouterClient.from_url(url, domain="life")
    client.load_strategy(STRATEGY.format(order="longest_idle"))
    make_agents(client, agents, 3)
    drop_agent_wakeups(client)
    worker = Worker(client, "life-worker", CHORES_OFF)
    worker.start()
    work_key = client.keys.work()

    def newest_work() -> str:
        # the worker's XREADGROUP blocks at least ~100 ms (Redis checks timeouts at `hz`)
        # when nothing is there: step it only when an item was filed
        rows = client.redis.xrevrange(work_key, count=1)
        return str(rows[0][0]) if rows else "0-0"

    seen = newest_work()
    last_event = client.redis.xrevrange(client.keys.events(), count=1)[0][0]
    steps = submit_steps(requests, 10_000_000)
    pid = int(client.redis.info("server")["process_id"])
    client.redis.config_resetstat()
    worker_s = desktop_s = 0.0
    rounds = 0
    redis0 = cpu_seconds(pid)
    t0 = time.perf_counter()
    for step in steps:
        t = time.thread_time()
        client.execute(step)
        desktop_s += time.thread_time() - t
        for phase in ("offer", "freed agent"):
            if phase == "freed agent":
                t = time.thread_time()
                accept = []
                for e in client.read_events(last_event, None, 1000):
                    last_event = e.id
                    if e.type == "offer.created":
                        accept += [
                            Script("accept", (e.get("offer"), e.get("agent"), 60_000)),
                            Script("complete", (e.get("request"), "")),
                        ]
                if len(accept) != 2:
                    raise SystemExit(f"expected one offer, got {len(accept) // 2}")
                client.execute(Batch(tuple(accept)))
                desktop_s += time.thread_time() - t
            top = newest_work()
            if top != seen:
                seen = top
                t = time.thread_time()
                rounds += worker.step(block_ms=1) > 0
                worker_s += time.thread_time() - t
    elapsed = time.perf_counter() - t0
    redis_s = cpu_seconds(pid) - redis0
    stats = client.redis.info("stats")
    evalsha = client.redis.info("commandstats").get("cmdstat_evalsha", {})
    client.close()
    n = requests
    return {
        "requests": n,
        "redis_cpu_us": redis_s / n * 1e6,
        "worker_cpu_us": worker_s / n * 1e6,
        "desktop_cpu_us": desktop_s / n * 1e6,
        "worker_rounds_per_request": rounds / n,
        "redis_reads_per_request": stats["total_reads_processed"] / n,
        "redis_script_us": evalsha.get("usec", 0) / n,
        "script_calls_per_request": evalsha.get("calls", 0) / n,
        "seconds": elapsed,
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--agents", type=int, default=10_000)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--json", action="store_true", help="print the JSON result line (always last)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        proc, url, _port = start_redis(tmp)
        try:
            result = lives(url, args.agents, args.requests)
        finally:
            proc.terminate()
            proc.wait(10)
    log(
        "{requests} request lives: CPU per request redis-server {redis_cpu_us:.0f} us, worker "
        "{worker_cpu_us:.0f} us, desktop {desktop_cpu_us:.0f} us; {worker_rounds_per_request:.2f} "
        "worker rounds, {redis_reads_per_request:.1f} Redis reads, scripts "
        "{redis_script_us:.0f} us of Redis time ({script_calls_per_request:.2f} calls)".format(
            **result
        )
    )
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in result.items()}))


if __name__ == "__main__":
    main()
