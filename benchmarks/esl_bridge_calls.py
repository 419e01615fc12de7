"""Calls through the ESL bridge: how fast a parked caller is connected to an agent.

    python benchmarks/esl_bridge_calls.py --calls 200 --rate 10 --agents 40 --talk 2 --json

Runs the whole FreeSWITCH side on this machine: the fake FreeSWITCH (tests/freeswitch_fixture,
threads; it renders every event from the recorded ones, so it costs CPU like a real switch
costs nothing), a real redis-server, one allocation worker (`implus router`) and the bridge
(`python -m esl_bridge`, its own process). Callers arrive open-loop at --rate per second,
each agent phone answers after --answer seconds, every call talks --talk seconds and the
customer hangs up. Measured per call: park -> bridged (the caller hears the agent), which
includes filing the request, the router's decision, ringing the agent, answer, accept and
uuid_bridge. Also: calls that never connected, and the CPU per routed call of each process,
separately: the bridge, the allocation worker (`implus router`), redis-server and this
process (the fake switch and the load generator; a real switch costs its own CPU elsewhere).

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import redis
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from bench_processes import free_port, log, own_tree  # noqa: E402
from freeswitch_fixture.phones import Answer  # noqa: E402
from freeswitch_fixture.server import FakeFreeSwitch  # noqa: E402

from admin_config.model import load_admin_config  # noqa: E402
from admin_config.secrets import Secrets  # noqa: E402
from dialplan.rendering import render  # noqa: E402
from router.client import RouterClient  # noqa: E402

STRATEGY = """
defaults: {offer_timeout: 20, wrapup: {voice: 0, chat: 0, voip: 0}, known_agent_wait: 0}
queues: {booking: {skills: {booking: 1}}}
rules:
  - {name: booking, actions: {queue: booking}}
"""


def cpu_seconds(pid: int, kernel_only: bool = False) -> float:
    """User + system CPU seconds of process `pid` (system only with `kernel_only`)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[12]) if kernel_only else int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--rate", type=float, default=10.0, help="new calls per second")
    ap.add_argument("--agents", type=int, default=40)
    ap.add_argument("--answer", type=float, default=0.05, help="agent phones answer after")
    ap.add_argument("--talk", type=float, default=2.0, help="seconds each call talks")
    ap.add_argument("--json", action="store_true")
    ap.add_argument(
        "--profile",
        metavar="PATH",
        help="sample the bridge with py-spy while the calls run (raw folded stacks to PATH)",
    )
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="implus-eslbench-"))
    port = free_port()
    redis_proc = subprocess.Popen(
        [shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind",
         "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(work)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    fs = FakeFreeSwitch().start()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for _ in range(100):
            try:
                redis.Redis.from_url(url).ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        agents = [f"a{i:03d}" for i in range(args.agents)]
        config = {
            "strategy": "strategy.yaml",
            "pbxs": [{"id": "fs1", "kind": "freeswitch", "port": fs.port,
                      "secret_env": "BENCH_ESL", "domain": "127.0.0.1"}],
            "services": [{"id": "booking"}],
            "entry_points": [{"id": "booking_fs", "pbx": "fs1", "extension": "800",
                              "service": "booking", "max_wait": 600}],
            "agents": [{"id": a, "pbx": "fs1", "endpoint": str(3000 + i),
                        "password_env": "BENCH_SIP", "skills": {"booking": 1}}
                       for i, a in enumerate(agents)],
        }  # fmt: skip
        (work / "strategy.yaml").write_text(STRATEGY)
        (work / "admin.yaml").write_text(yaml.safe_dump(config))
        cfg = load_admin_config(work / "admin.yaml")
        files = render(cfg, cfg.pbx("fs1"), Secrets({"BENCH_SIP": "x"}))
        fs.calls.use_dialplan({f.path: f.content for f in files})
        client = RouterClient.from_url(url)
        client.load_strategy(STRATEGY)
        env = own_tree({**os.environ, "BENCH_ESL": "ClueCon", "IMPLUS_REDIS_URL": url})
        implus = Path(sys.executable).with_name("implus")
        worker = subprocess.Popen(
            [str(implus), "router", "--redis-url", url],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        procs.append(worker)
        bridge = subprocess.Popen(
            [sys.executable, "-P", "-m", "esl_bridge", "--config", str(work / "admin.yaml"),
             "--pbx", "fs1", "--log-level", "warning"],
            env=env, stderr=(work / "bridge.log").open("wb"),
        )  # fmt: skip
        procs.append(bridge)
        fs.wait_for_clients(1, timeout=30)
        for i, a in enumerate(agents):
            client.heartbeat(a, source="desktop", ttl=3600)
            client.set_status(a, "available")
            fs.calls.add_phone(str(3000 + i), Answer(after=args.answer))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            ready = [s for s in client.agents() if s.devices.get("sip") == "available"]
            if len(ready) == len(agents):
                break
            time.sleep(0.1)
        log(f"{len(agents)} agents ready; placing {args.calls} calls at {args.rate}/s")

        parked: dict[str, float] = {}
        bridged: dict[str, float] = {}
        lock = threading.Lock()

        def watch() -> None:
            while len(bridged) < args.calls and not stop.is_set():
                with lock:
                    pending = [u for u in parked if u not in bridged]
                for u in pending:
                    leg = fs.calls.leg(u)
                    if leg is not None and leg.peer is not None:
                        bridged[u] = time.monotonic()
                        threading.Timer(args.talk, lambda u=u: _hangup(u)).start()
                time.sleep(0.005)

        def _hangup(u: str) -> None:
            with contextlib.suppress(KeyError):
                fs.calls.hangup(u)

        stop = threading.Event()
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        spy = None
        if args.profile:
            spy = subprocess.Popen(
                [str(Path(sys.executable).with_name("py-spy")), "record", "--pid",
                 str(bridge.pid), "--format", "raw", "--gil", "--rate", "250", "-o", args.profile],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
        cpu0 = cpu_seconds(bridge.pid)
        sys0 = cpu_seconds(bridge.pid, kernel_only=True)
        worker0 = cpu_seconds(worker.pid)
        redis0 = cpu_seconds(redis_proc.pid)
        own0 = cpu_seconds(os.getpid())
        start = time.monotonic()
        for n in range(args.calls):
            due = start + n / args.rate
            time.sleep(max(0.0, due - time.monotonic()))
            uuid = fs.calls.dial("800", f"+49{n:09d}")
            with lock:
                parked[uuid] = time.monotonic()
        end_by = time.monotonic() + 60
        while len(bridged) < args.calls and time.monotonic() < end_by:
            time.sleep(0.05)
        elapsed = time.monotonic() - start
        stop.set()
        # The CPU of a call includes its end (hangup, records, the agent freed): measure once
        # every leg is gone and the processes had half a second to finish with them.
        gone_by = time.monotonic() + args.talk + 30
        while fs.calls.legs and time.monotonic() < gone_by:
            time.sleep(0.05)
        time.sleep(0.5)
        cpu = cpu_seconds(bridge.pid) - cpu0
        kernel = cpu_seconds(bridge.pid, kernel_only=True) - sys0
        worker_cpu = cpu_seconds(worker.pid) - worker0
        redis_cpu = cpu_seconds(redis_proc.pid) - redis0
        own = cpu_seconds(os.getpid()) - own0
        if spy is not None:
            spy.send_signal(2)  # py-spy writes its file on SIGINT
            spy.wait(30)
        waits = sorted((bridged[u] - parked[u]) * 1000 for u in bridged)
        result = {
            "calls": args.calls,
            "rate": args.rate,
            "agents": args.agents,
            "connected": len(waits),
            "never_connected": args.calls - len(waits),
            "park_to_bridge_ms_p50": round(statistics.median(waits), 1) if waits else None,
            "park_to_bridge_ms_p95": round(waits[int(len(waits) * 0.95) - 1], 1) if waits else None,
            "park_to_bridge_ms_max": round(waits[-1], 1) if waits else None,
            "elapsed_s": round(elapsed, 1),
            "bridge_cpu_s": round(cpu, 2),
            "bridge_cpu_ms_per_call": round(cpu * 1000 / args.calls, 2),
            "bridge_kernel_cpu_ms_per_call": round(kernel * 1000 / args.calls, 2),
            "router_cpu_ms_per_call": round(worker_cpu * 1000 / args.calls, 2),
            "redis_cpu_ms_per_call": round(redis_cpu * 1000 / args.calls, 2),
            "fake_switch_cpu_s": round(own, 2),
            "fake_switch_cpu_ms_per_call": round(own * 1000 / args.calls, 2),
        }
        log(json.dumps(result, indent=2))
        print(json.dumps(result))
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        fs.stop()
        redis_proc.terminate()
        redis_proc.wait(10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
