"""`route_throughput.py --domains N`: N routing domains on one redis-server, then on a Redis
Cluster of N masters (no replicas, no WAIT: the same work as the single server), on this
machine.

Per target: AGENTS agents and REQUESTS chat requests are spread evenly over the N domains
(filed while no worker runs), then ONE `implus router --domain d1 ... --domain dN
--workers W` is started (W allocation processes per domain) and the time until every
request has been offered is measured. The domain names are picked so that on the cluster
each domain's slot is on a different master. CPU per assignment: every redis-server
together (/proc), the workers (waited-for children).

Both targets share the same cores, so the cluster cannot be faster here; what the
comparison shows is the cost of the cluster client (slot routing, per-node pipelines) and of
N server processes, not the gain of N machines.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "cluster"))

from bench_processes import cpu_seconds  # noqa: E402
from redis_cluster import RedisCluster, domain_slot  # noqa: E402
from route_load import router_command  # noqa: E402

from router.client import RouterClient  # noqa: E402
from router.keys import WORK_GROUP  # noqa: E402
from router.ops import Batch  # noqa: E402


def _cpu_s(pids: list[int]) -> float:
    return sum(cpu_seconds(pid) for pid in pids)


def _children_cpu_s() -> float:
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return kids.ru_utime + kids.ru_stime


def pick_domains(n: int, cluster: RedisCluster | None) -> list[str]:
    """N domain names; on a cluster, each on a master of its own."""
    if cluster is None:
        return [f"dom{i}" for i in range(n)]
    out: list[str] = []
    for i in range(10_000):
        name = f"dom{i}"
        owners = {cluster.slot_owner(domain_slot(d)).port for d in out}
        if cluster.slot_owner(domain_slot(name)).port not in owners:
            out.append(name)
            if len(out) == n:
                return out
    raise SystemExit("could not place the domains on distinct masters")


def _offered(clients: list[RouterClient]) -> int:
    return sum(int(c.redis.zcard(c.keys.timers())) for c in clients)


def _work_done(clients: list[RouterClient]) -> bool:
    for c in clients:
        groups = {g["name"]: g for g in c.redis.xinfo_groups(c.keys.work())}
        g = groups.get(WORK_GROUP)
        if g is None or g.get("lag") != 0 or g["pending"] != 0:
            return False
    return True


def _start_workers(url: str, domains: list[str], workers: int, log: Path) -> Any:
    args = ["router", "--redis-url", url, "--workers", str(workers)]
    for d in domains:
        args += ["--domain", d]
    command, env = router_command(*args)
    with open(log, "wb") as out:
        return subprocess.Popen(command, stdout=out, stderr=out, env=env)


def one_target(
    bench: Any, url: str, domains: list[str], redis_pids: list[int], args: Any, tmp: Path
) -> dict[str, Any]:
    """Phase 1 of route_throughput over several domains on one target (``bench`` is the
    route_throughput module: its agents, requests and worker helpers)."""
    n = len(domains)
    clients = [RouterClient.from_url(url, domain=d) for d in domains]
    per_agents, per_requests = args.agents // n, args.requests // n
    chat_capacity = max(1, -(-per_requests // per_agents)) + 1
    t = time.perf_counter()
    for c in clients:
        c.load_strategy(bench.STRATEGY.format(order=args.order))
        bench.make_agents(c, per_agents, chat_capacity)
        steps = bench.submit_steps(per_requests)
        for i in range(0, len(steps), 2000):
            c.execute(Batch(tuple(steps[i : i + 2000])))
    bench.log(f"  {n} domains x ({per_agents} agents, {per_requests} requests) filed in "
              f"{time.perf_counter() - t:.1f}s")  # fmt: skip
    redis0, kids0 = _cpu_s(redis_pids), _children_cpu_s()
    log_path = tmp / "workers.log"
    proc = _start_workers(url, domains, args.workers, log_path)
    for c in clients:
        bench.wait_consumers(c, args.workers, proc)
    t0 = time.perf_counter()
    total = per_requests * n
    last, changed_at = -1, t0
    try:
        while True:
            offered = _offered(clients)
            now = time.perf_counter()
            if offered != last:
                last, changed_at = offered, now
            if offered >= total:
                break
            if proc.poll() is not None:
                raise SystemExit(f"workers died: {log_path.read_text()[-2000:]}")
            if now - t0 > 600:
                raise SystemExit(f"only {offered} of {total} offered after 600 s")
            if now - changed_at > 3.0 and _work_done(clients):
                break
            time.sleep(0.01)
        elapsed = changed_at - t0
    finally:
        bench.stop(proc)
    redis_us = (_cpu_s(redis_pids) - redis0) / max(1, offered) * 1e6
    workers_us = (_children_cpu_s() - kids0) / max(1, offered) * 1e6
    stats = bench.worker_stats(log_path)
    for c in clients:
        c.close()
    return {
        "assignments": offered,
        "seconds": round(elapsed, 3),
        "assignments_per_s": round(offered / elapsed, 1),
        "redis_cpu_us": round(redis_us, 1),
        "workers_cpu_us": round(workers_us, 1),
        "lost_races": stats.get("lost_races", 0),
    }


def run(bench: Any, args: Any) -> dict[str, Any]:
    """Both targets; the result object of ``--domains N``."""
    n = args.domains
    if n < 3:
        raise SystemExit("--domains needs N >= 3: a Redis Cluster has at least 3 masters")
    result: dict[str, Any] = {
        "domains": n,
        "agents": args.agents,
        "requests": args.requests,
        "workers_per_domain": args.workers,
        "cpus": os.cpu_count(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        proc, url, _port = bench.start_redis(tmp)
        try:
            domains = pick_domains(n, None)
            bench.log(f"one redis-server, {n} domains:")
            one = one_target(bench, url, domains, [proc.pid], args, Path(tmp))
        finally:
            proc.terminate()
            proc.wait(10)
    bench.log(f"  {one}")
    with tempfile.TemporaryDirectory() as tmp:
        cluster = RedisCluster(Path(tmp) / "cluster", masters=n, replicas=0)
        try:
            cluster.start()
            url = cluster.url + "?wait_replicas=0"
            domains = pick_domains(n, cluster)
            bench.log(f"Redis Cluster of {n} masters, domains {', '.join(domains)}:")
            pids = [node.proc.pid for node in cluster.nodes if node.proc is not None]
            many = one_target(bench, url, domains, pids, args, Path(tmp))
        finally:
            cluster.stop()
    bench.log(f"  {many}")
    result["one_redis"] = one
    result["cluster"] = many
    result["cluster_vs_one"] = round(many["assignments_per_s"] / one["assignments_per_s"], 3)
    return result
