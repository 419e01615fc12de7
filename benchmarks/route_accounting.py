"""Where route_throughput.py's time goes: CPU per unit of work by process
(redis-server, workers, load generator), Redis time per command (INFO commandstats), and
the part of the offer latency spent inside Redis (event stream ids).
"""

from __future__ import annotations

import resource
from pathlib import Path

from bench_processes import cpu_seconds

from router.client import RouterClient


class CommandStats:
    """Redis's own profile: time inside each command (INFO commandstats) between creation
    and ``top()``. EVALSHA includes the commands its script runs."""

    def __init__(self, client: RouterClient) -> None:
        self.redis = client.redis
        self.start = self.read()

    def read(self) -> dict[str, tuple[int, int]]:
        stats = self.redis.info("commandstats")
        return {k.removeprefix("cmdstat_"): (v["calls"], v["usec"]) for k, v in stats.items()}

    def top(self, n_units: int, limit: int = 6) -> dict[str, dict[str, float]]:
        """The LIMIT commands with the most Redis time, as calls and microseconds per unit."""
        diff = []
        for name, (calls, usec) in self.read().items():
            c0, u0 = self.start.get(name, (0, 0))
            if usec > u0:
                diff.append((usec - u0, calls - c0, name))
        diff.sort(reverse=True)
        return {
            name: {
                "calls_per_unit": round(calls / max(1, n_units), 3),
                "us_per_unit": round(usec / max(1, n_units), 1),
            }
            for usec, calls, name in diff[:limit]
        }


class CpuMeter:
    """CPU seconds spent by redis-server (from /proc), the workers and this process (the
    load generator) since creation. The workers' figure is that of the children this
    process waited for, or - with ``workers``, the pid of a running `implus router` - of
    that process and its children (from /proc), to measure a span while they run."""

    def __init__(self, client: RouterClient, workers: int | None = None) -> None:
        self.redis_pid = int(client.redis.info("server")["process_id"])
        self.workers = workers
        self.start = self.read()

    def read(self) -> tuple[float, float, float]:
        redis_s = cpu_seconds(self.redis_pid)
        if self.workers is None:
            kids = resource.getrusage(resource.RUSAGE_CHILDREN)
            workers_s = kids.ru_utime + kids.ru_stime
        else:
            workers_s = sum(cpu_seconds(pid) for pid in _tree(self.workers))
        me = resource.getrusage(resource.RUSAGE_SELF)
        return redis_s, workers_s, me.ru_utime + me.ru_stime

    def per(self, n: int, prefix: str) -> dict[str, float]:
        """Microseconds of CPU per unit of work (call after the workers were waited for)."""
        now = self.read()
        names = ("redis", "workers", "loadgen")
        return {
            f"{prefix}_{name}_cpu_us": (b - a) / max(1, n) * 1e6
            for name, a, b in zip(names, self.start, now, strict=True)
        }


def _tree(pid: int) -> list[int]:
    """PID and its children (one level: `implus router --workers N` forks N workers)."""
    kids = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        kids += [int(k) for k in (task / "children").read_text().split()]
    return [pid, *kids]


def redis_side_latency(client: RouterClient, requests: set[str]) -> list[int]:
    """Per request of REQUESTS, ms from its ``request.created`` to its ``offer.created``
    entry id (Redis's clock), sorted: the part of the offer latency spent from the submit
    script to the reservation script (the work item waiting, the worker's round)."""
    created: dict[str, int] = {}
    out = []
    start = "-"
    while rows := client.redis.xrange(client.keys.events(), start, "+", count=10_000):
        for entry_id, f in rows:
            rid = f.get("request", "")
            if rid in requests:
                ms = int(entry_id.split("-")[0])
                if f.get("type") == "request.created":
                    created[rid] = ms
                elif f.get("type") == "offer.created" and rid in created:
                    out.append(ms - created.pop(rid))
        start = "(" + rows[-1][0]
    return sorted(out) or [0]
