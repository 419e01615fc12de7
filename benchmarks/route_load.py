"""The load of route_throughput.py: its strategy, agents and chat requests, the
`implus router` worker processes it starts (and py-spy on them), their closing stats, and
the redis-benchmark reference rate.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import redis
from bench_processes import own_tree

from router.client import RouterClient
from router.keys import WORK_GROUP
from router.model import AgentProfile
from router.ops import Batch, Script

STRATEGY = """
defaults: {{queue: general, offer_timeout: 600, wrapup: {{voice: 0, chat: 0, voip: 0}}}}
queues: {{general: {{}}, sales: {{skills: {{sales: 1}}}}}}
rules:
  - {{name: vip, conditions: customer.vip >= 2, actions: {{queue: sales, priority: 5}},
     order: {order}}}
  - {{name: sales, conditions: service == "sales", actions: {{queue: sales}}, order: {order}}}
  - {{name: rest, actions: {{queue: general}}, order: {order}}}
"""


def eval_reference(port: int) -> float:
    """redis-benchmark's EVAL rate for a script doing one HINCRBY (pipelined 16)."""
    out = (
        subprocess.run(
            [
                "redis-benchmark",
                "-p",
                str(port),
                "-n",
                "200000",
                "-P",
                "16",
                "-c",
                "8",
                "--csv",
                "eval",
                "redis.call('HINCRBY', KEYS[1], 'n', 1) return 1",
                "1",
                "bench:ref",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        .stdout.strip()
        .splitlines()
    )
    return float(next(csv.reader([out[-1]]))[1])


def make_agents(client: RouterClient, n: int, chat_capacity: int) -> None:
    steps = []
    for i in range(n):
        profile = AgentProfile(
            id=f"a{i}",
            skills={"sales": 1} if i % 4 == 0 else {},
            capacity={"voice": 1, "chat": chat_capacity},
        )
        from router.client import profile_fields

        steps.append(Script("upsert_agent", (profile.id, *profile_fields(profile))))
        steps.append(Script("heartbeat", (profile.id, "desktop", 3_600_000, "")))
        steps.append(Script("set_status", (profile.id, "available", "")))
        if len(steps) >= 3000:
            client.execute(Batch(tuple(steps)))
            steps = []
    if steps:
        client.execute(Batch(tuple(steps)))


def submit_steps(n: int, offset: int = 0) -> list[Script]:
    import uuid

    out = []
    for i in range(offset, offset + n):
        customer = json.dumps({"vip": 2 if i % 50 == 0 else 0})
        out.append(
            Script(
                "submit",
                (
                    uuid.uuid4().hex,
                    uuid.uuid4().hex,
                    "chat",
                    "sales" if i % 4 == 0 else "support",
                    f"u{i}",
                    customer,
                    0,
                    "",
                    "",
                    "",
                    "",
                    "",
                ),
            )
        )
    return out


def router_command(*args: str) -> tuple[list[str], dict[str, str]]:
    """The command and environment of an `implus router` process that runs THIS checkout's
    router, as the load generator does, whatever the current directory: `python -c` would
    put the current directory first on sys.path, so a run of another tree (an export of the
    tree before a change, PYTHONPATH=/tmp/before) started from a checkout would pair that
    checkout's workers with the other tree's load generator. ``-P`` leaves the directory
    out; PYTHONPATH puts this checkout first (`bench_processes.own_tree`)."""
    command = [sys.executable, "-P", "-c", "from router.cli import main; main()", *args]
    return command, own_tree(dict(os.environ))


def start_workers(url: str, domain: str, workers: int, log_path: Path) -> subprocess.Popen[bytes]:
    """WORKERS allocation processes; their log (with each worker's closing stats line) goes
    to LOG_PATH."""
    command, env = router_command(
        "router", "--redis-url", url, "--domain", domain, "--workers", str(workers)
    )
    with open(log_path, "wb") as out:
        return subprocess.Popen(command, stdout=out, stderr=out, env=env)


def start_profiler(pid: int, profile: Path) -> subprocess.Popen[bytes]:
    """py-spy recording process PID and its children (an SVG flame graph, or collapsed
    stacks for a `.txt` name) until they exit."""
    exe = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if exe is None:
        raise SystemExit("--profile needs py-spy: pip install py-spy")
    cmd = [exe, "record", "--subprocesses", "--nonblocking", "--pid", str(pid), "-o", str(profile)]
    if profile.suffix == ".txt":
        cmd += ["--format", "raw"]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def worker_stats(log_path: Path) -> dict[str, int]:
    """The workers' closing `stopped: k=v ...` lines, summed over workers."""
    total: dict[str, int] = {}
    for line in log_path.read_text(errors="replace").splitlines():
        if " stopped: " in line:
            for pair in line.split(" stopped: ", 1)[1].split():
                k, _, v = pair.partition("=")
                total[k] = total.get(k, 0) + int(v)
    return total


def wait_consumers(client: RouterClient, workers: int, proc: subprocess.Popen[bytes]) -> None:
    """Until every worker has loaded its agent view and joined the consumer group: start-up
    (imports, 10,000 agents read) is not routing time."""
    deadline = time.perf_counter() + 60
    while time.perf_counter() < deadline:
        if proc.poll() is not None:
            raise SystemExit("workers died")
        try:
            if len(client.redis.xinfo_consumers(client.keys.work(), WORK_GROUP)) >= workers:
                return
        except redis.ResponseError:
            pass  # the group does not exist yet
        time.sleep(0.005)
    raise SystemExit("workers did not start within 60 s")


def drop_agent_wakeups(client: RouterClient) -> None:
    """Empty the work stream before the workers start: making 10,000 agents available
    filed one wake-up each, and in the latency phase (no request waits yet) working them
    off would only delay the first measured requests behind set-up work."""
    client.redis.xtrim(client.keys.work(), maxlen=0, approximate=False)


def work_done(client: RouterClient) -> bool:
    for g in client.redis.xinfo_groups(client.keys.work()):
        if g["name"] == WORK_GROUP:
            return g.get("lag") == 0 and g["pending"] == 0
    return False
