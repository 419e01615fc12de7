"""Routing throughput and offer latency on a real redis-server.

    python benchmarks/route_throughput.py --agents 10000 --requests 50000 --json

Phase 1 (throughput): REQUESTS chat requests are filed while no worker runs, then WORKERS
`implus router` processes are started and the time until every request has been offered
is measured: assignments_per_s = requests / that time. Agents have enough chat capacity
for all of them, so this is the allocation path alone (no completions needed).
Phase 2 (latency): a fresh routing domain; requests arrive open-loop at --rate per second
for --seconds while simulated agents accept and finish contacts; offer latency is the
time from the submit call to the `offer.created` event reaching a subscriber.
Reference: redis-benchmark's EVAL rate for a one-HINCRBY script in the same run, the
physical ceiling of one Redis on this machine.

    python benchmarks/route_throughput.py --domains 3 --agents 3000 --requests 15000 --json

``--domains N``: phase 1 over N routing domains, on one redis-server and then on a Redis
Cluster of N masters on this machine (benchmarks/route_domains.py).

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_processes import log, start_redis, stop
from route_accounting import CommandStats, CpuMeter, redis_side_latency
from route_load import (
    STRATEGY,
    drop_agent_wakeups,
    eval_reference,
    make_agents,
    start_profiler,
    start_workers,
    submit_steps,
    wait_consumers,
    work_done,
    worker_stats,
)

from router.client import RouterClient
from router.direct import DirectPipeline
from router.ops import Batch, Script


def throughput(
    url: str,
    agents: int,
    requests: int,
    workers: int,
    tmp: Path,
    profile: Path | None,
    order: str,
) -> dict[str, Any]:
    client = RouterClient.from_url(url, domain="tput")
    client.load_strategy(STRATEGY.format(order=order))
    # One spare slot per agent: greedy matching may spend skilled agents' slots on general
    # requests, and the run must not depend on a perfect packing to finish.
    chat_capacity = max(1, -(-requests // agents)) + 1
    t = time.perf_counter()
    make_agents(client, agents, chat_capacity)
    log(f"{agents} agents (chat capacity {chat_capacity}) in {time.perf_counter() - t:.1f}s")
    t = time.perf_counter()
    steps = submit_steps(requests)
    for i in range(0, len(steps), 2000):
        client.execute(Batch(tuple(steps[i : i + 2000])))
    submit_s = time.perf_counter() - t
    log(f"{requests} requests filed in {submit_s:.1f}s ({requests / submit_s:,.0f}/s)")
    # the work stream also holds the agents' own items; all of it must be worked off
    meter = CpuMeter(client)
    commands = CommandStats(client)
    worker_log = tmp / "tput-workers.log"
    proc = start_workers(url, "tput", workers, worker_log)
    wait_consumers(client, workers, proc)
    spy = start_profiler(proc.pid, profile) if profile else None
    t0 = time.perf_counter()
    try:
        last = 0
        last_change, changed_at = 0, t0
        while True:
            # offers wait 10 min for an answer: one timer each, none expires meanwhile
            offered = int(client.redis.zcard(client.keys.timers()))
            now = time.perf_counter()
            if offered != last_change:
                last_change, changed_at = offered, now
            if offered >= requests:
                break
            if proc.poll() is not None:
                raise SystemExit("workers died")
            if now - t0 > 600:
                raise SystemExit(f"only {offered} of {requests} offered after 600 s")
            if offered - last >= requests // 10:
                log(f"  {offered} offered after {now - t0:.1f}s")
                last = offered
            # every request examined and nothing new for 3 s (the workers' sweep runs each
            # second): the rest wait for capacity
            if now - changed_at > 3.0 and work_done(client):
                break
            time.sleep(0.01)
        elapsed = changed_at - t0
    finally:
        stop(proc)
        if spy is not None:
            spy.wait(60)  # py-spy writes its file when the processes it records end
            log(f"  profile of the workers written to {profile}")
    if offered < requests:
        log(f"  {requests - offered} requests found no free agent (they wait in their queues)")
    log(
        f"phase 1: {offered} assignments in {elapsed:.2f}s = {offered / elapsed:,.0f}/s "
        f"with {workers} workers"
    )
    cpu = meter.per(offered, "assignment")
    log(
        "  CPU per assignment: redis-server {:.0f} us, workers {:.0f} us (incl. start-up)".format(
            cpu["assignment_redis_cpu_us"], cpu["assignment_workers_cpu_us"]
        )
    )
    top = commands.top(offered)
    log(
        "  Redis time per assignment by command: "
        + ", ".join(
            f"{k} {v['us_per_unit']:.0f} us ({v['calls_per_unit']}x)" for k, v in top.items()
        )
    )
    stats = worker_stats(worker_log)
    log(
        "  workers: {} work items, {} offers, {} lost races, {} sweeps that found work".format(
            stats.get("items", 0),
            stats.get("offers", 0),
            stats.get("lost_races", 0),
            stats.get("sweeps", 0),
        )
    )
    return {
        **cpu,
        "redis_time_per_assignment": top,
        "lost_races": stats.get("lost_races", 0),
        "worker_items": stats.get("items", 0),
        "assignments_per_s": offered / elapsed,
        "assignments": offered,
        "submit_per_s": requests / submit_s,
        "tput_seconds": elapsed,
    }


def latency(
    url: str, agents: int, rate: int, seconds: float, workers: int, tmp: Path, order: str
) -> dict[str, Any]:
    client = RouterClient.from_url(url, domain="lat")
    client.load_strategy(STRATEGY.format(order=order))
    make_agents(client, agents, 3)
    drop_agent_wakeups(client)
    meter = CpuMeter(client)
    proc = start_workers(url, "lat", workers, tmp / "lat-workers.log")
    wait_consumers(client, workers, proc)
    time.sleep(0.5)
    # from here on: the run alone (the workers' start-up - 10,000 agents loaded - excluded)
    run_meter = CpuMeter(client, workers=proc.pid)
    commands = CommandStats(client)
    sent: dict[str, float] = {}
    got: dict[str, float] = {}
    stop_flag = threading.Event()
    last_id = client.redis.xrevrange(client.keys.events(), count=1)[0][0]

    def listen() -> None:
        nonlocal last_id
        sub = RouterClient.from_url(url, domain="lat")
        held = DirectPipeline(sub, size=1)
        while not stop_flag.is_set():
            steps = []
            read = sub.ops.read_events(last_id, block_ms=50, count=5000)
            listening.set()  # connected, its scripts loaded: the arrivals may start
            for e in sub.run(read, held.execute):
                last_id = e.id
                if e.type == "offer.created":
                    got.setdefault(e.get("request"), time.perf_counter())
                    # The desktop accepts, and its agent ends the contact at once: it knows
                    # the accept went through from its reply, as a real desktop does (no
                    # wait for the offer.accepted event: one more event round per request).
                    steps.append(Script("accept", (e.get("offer"), e.get("agent"), 60_000)))
                    steps.append(Script("complete", (e.get("request"), "")))
            if steps:
                held.execute(Batch(tuple(steps)))

    listening = threading.Event()
    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    if not listening.wait(30):
        raise SystemExit("the offer listener did not start")
    total = int(rate * seconds)
    # Made before the clock starts: built inside the loop, the first 10,000 took ~70 ms, and
    # the schedule then sent the ~70 requests it was behind in one burst (7,000/s), which
    # alone was the p99 of a 10 s run at 1,000/s (6.1 ms with, 3.5 ms without its first 0.2 s).
    arrivals = submit_steps(total, 10_000_000)
    # The load generator's clients send on connections held for good (router.direct, as
    # the worker and the ESL bridge do): the same commands and round trips as through
    # redis-py's pool, ~30 us less of this process's CPU per round trip.
    held = DirectPipeline(client, size=1)
    t0 = time.perf_counter()
    try:
        for i, step in enumerate(arrivals):
            due = t0 + i / rate
            while (now := time.perf_counter()) < due:
                time.sleep(min(0.001, due - now))
            t = time.perf_counter()
            rid = step.args[0]
            sent[rid] = t
            held.execute(step)
        time.sleep(2.0)
        run_cpu = run_meter.per(total, "run")
        top = commands.top(total, limit=20)
    finally:
        stop_flag.set()
        listener.join(5)
        stop(proc)
    lat = sorted((got[r] - sent[r]) * 1000 for r in sent if r in got)
    missing = len(sent) - len(lat)
    actual_rate = total / (max(sent.values()) - t0)
    log(
        f"phase 2: {len(lat)} offers at {actual_rate:,.0f} req/s; p50 {lat[len(lat) // 2]:.2f} ms, "
        f"p99 {lat[int(len(lat) * 0.99)]:.2f} ms; {missing} not offered"
    )
    in_redis = redis_side_latency(client, set(sent))
    p50_redis, p99_redis = in_redis[len(in_redis) // 2], in_redis[int(len(in_redis) * 0.99)]
    log(
        f"  of which request.created -> offer.created in Redis (stream ids): p50 {p50_redis} ms, "
        f"p99 {p99_redis} ms; the rest is the submit call and the event's way to the subscriber"
    )
    cpu = meter.per(len(sent), "request")
    log(
        "  CPU per request (submit, offer, accept, complete): redis-server {:.0f} us, "
        "workers {:.0f} us, load generator {:.0f} us".format(
            cpu["request_redis_cpu_us"],
            cpu["request_workers_cpu_us"],
            cpu["request_loadgen_cpu_us"],
        )
    )
    log(
        "  of which during the arrivals (no start-up, no read-back): redis-server {:.0f} us, "
        "workers {:.0f} us, load generator {:.0f} us".format(
            run_cpu["run_redis_cpu_us"],
            run_cpu["run_workers_cpu_us"],
            run_cpu["run_loadgen_cpu_us"],
        )
    )
    log(
        "  Redis time per request by command: "
        + ", ".join(
            f"{k} {v['us_per_unit']:.1f} us ({v['calls_per_unit']}x)" for k, v in top.items()
        )
    )
    return {
        **cpu,
        **{f"request_{k}": v for k, v in run_cpu.items()},
        "redis_time_per_request": top,
        "offer_latency_p50_ms": statistics.median(lat),
        "offer_latency_p99_ms": lat[int(len(lat) * 0.99) - 1],
        "offer_latency_max_ms": lat[-1],
        "offer_latency_in_redis_p50_ms": in_redis[len(in_redis) // 2],
        "offer_latency_in_redis_p99_ms": in_redis[int(len(in_redis) * 0.99) - 1],
        "latency_rate_per_s": actual_rate,
        "latency_not_offered": missing,
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--agents", type=int, default=10_000)
    ap.add_argument("--requests", type=int, default=50_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument(
        "--rate", type=int, default=2000, help="arrivals per second in the latency phase"
    )
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument(
        "--order",
        default="longest_idle",
        choices=["longest_idle", "least_load", "round_robin", "highest_skill"],
        help="the strategy's agent order (every rule)",
    )
    ap.add_argument(
        "--profile", type=Path, help="py-spy the workers in phase 1 (.svg, or .txt: collapsed)"
    )
    ap.add_argument(
        "--domains",
        type=int,
        help="N routing domains on one redis-server, then on a Redis Cluster of N masters "
        "(phase 1 only; benchmarks/route_domains.py)",
    )
    ap.add_argument("--json", action="store_true", help="print the JSON result line (always last)")
    args = ap.parse_args()
    if shutil.which("redis-server") is None:
        raise SystemExit("redis-server is not installed: apt-get install redis-server")
    if args.domains is not None:
        import route_domains

        print(json.dumps(route_domains.run(sys.modules[__name__], args)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        proc, url, port = start_redis(tmp)
        try:
            ref = eval_reference(port)
            log(f"reference: redis-benchmark EVAL (1 HINCRBY) {ref:,.0f}/s")
            redis.Redis(port=port).flushall()
            result: dict[str, object] = {
                "agents": args.agents,
                "requests": args.requests,
                "workers": args.workers,
                "order": args.order,
                "cpus": os.cpu_count(),
            }
            result.update(
                throughput(
                    url,
                    args.agents,
                    args.requests,
                    args.workers,
                    Path(tmp),
                    args.profile,
                    args.order,
                )
            )
            result.update(
                latency(
                    url, args.agents, args.rate, args.seconds, args.workers, Path(tmp), args.order
                )
            )
            result["redis_eval_per_s"] = ref
            result["assignments_vs_eval"] = round(float(result["assignments_per_s"]) / ref, 4)  # type: ignore[arg-type]
        finally:
            proc.terminate()
            proc.wait(10)
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in result.items()}))


if __name__ == "__main__":
    main()
