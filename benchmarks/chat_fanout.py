"""Benchmark: websockets held by ONE chat process and customer -> agent message latency.

    python benchmarks/chat_fanout.py --clients 5000 --rate 1000 --duration 30 --json

Starts its own redis-server (AOF, everysec), one router worker (`implus router`) and ONE
`implus chat` process (gunicorn, one gevent worker). A load generator process (gevent +
websocket-client) opens `--clients` websockets: `--agents` agent desktops and the rest
customers. `--active` customers start a chat that the router assigns to an agent (the
desktops accept every offer); then the active customers send messages round-robin at
`--rate` per second for `--duration` seconds, each stamped with its send time, and the
agent desktops record the delay until it arrives (customer -> chat -> Redis transcript ->
events stream -> chat -> agent). Alongside, one more connection sends websocket pings
10 times a second (the chat process's own round trip under that load).

Reference, measured in the same run before the load: a raw Redis XADD -> XREAD BLOCK
round trip at the same rate (the floor of any fan-out through a Redis stream).

`--profile FILE` records the chat worker with py-spy during the steady phase (an SVG
flame graph, or collapsed stacks for a `.txt` name; `pip install py-spy`). The result
notes the machine's load average before the run: other work on the machine shows up in
the figures. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

from bench_processes import cpu_seconds, free_port  # noqa: E402
from chat_loadgen import loadgen  # noqa: E402


def raise_fd_limit() -> int:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, all cores."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(fields) - idle) / tick, sum(fields) / tick


def children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        out += [int(x) for x in text]
    return out


# ---------------------------------------------------------------------------------------
# reference: raw Redis XADD -> XREAD round trip at the same rate
# ---------------------------------------------------------------------------------------
def redis_reference(url: str, rate: int, seconds: float) -> dict[str, float]:
    import redis

    w = redis.Redis.from_url(url)
    r = redis.Redis.from_url(url)
    stream = "bench:reference"
    lat: list[float] = []
    done = threading.Event()

    def reader() -> None:
        last = "$"
        while not done.is_set():
            for _, entries in r.xread({stream: last}, block=200) or []:
                for eid, fields in entries:
                    last = eid
                    lat.append(time.time() - float(fields[b"t"]))

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    time.sleep(0.3)
    start = time.time()
    n = 0
    while time.time() - start < seconds:
        w.xadd(stream, {"t": f"{time.time():.6f}"}, maxlen=10000)
        n += 1
        time.sleep(max(0.0, start + n / rate - time.time()))
    time.sleep(0.5)
    done.set()
    t.join()
    w.delete(stream)
    ms = [x * 1000 for x in lat]
    return {"p50_ms": round(pct(ms, 0.5), 3), "p99_ms": round(pct(ms, 0.99), 3), "n": len(ms)}


# ---------------------------------------------------------------------------------------
def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=5000, help="websockets in total")
    ap.add_argument("--agents", type=int, default=100)
    ap.add_argument("--capacity", type=int, default=10, help="chats per agent")
    ap.add_argument("--active", type=int, default=1000, help="customers in a routed chat")
    ap.add_argument("--rate", type=int, default=1000, help="messages per second")
    ap.add_argument("--duration", type=float, default=30)
    ap.add_argument("--profile", type=Path, help="py-spy flame graph of the chat worker")
    ap.add_argument("--json", action="store_true", help="print only the JSON result")
    ap.add_argument("--role", default="main", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.role == "loadgen":
        cfg = json.load(sys.stdin)
        raise_fd_limit()
        print(json.dumps(loadgen(cfg)))
        return 0
    if args.agents * args.capacity < args.active:
        ap.error("--agents x --capacity must be at least --active")
    raise_fd_limit()
    load_before = os.getloadavg()
    result = run(args)
    result["load_avg_before"] = [round(x, 2) for x in load_before]
    if not args.json:
        for k, v in result.items():
            print(f"{k:>24}: {v}", file=sys.stderr)
    print(json.dumps(result))
    return 0


def run(args: argparse.Namespace) -> dict[str, Any]:
    import redis
    from argon2 import PasswordHasher

    sys.path.insert(0, str(ROOT))
    from chat.accounts import AccountStore, Role
    from chat.keys import ChatKeys
    from chat.staff_sessions import StaffSessions
    from chat.tokens import TokenSigner
    from router.client import RouterClient
    from router.model import AgentProfile

    work = Path(tempfile.mkdtemp(prefix="implus-bench-"))
    procs: list[subprocess.Popen[bytes]] = []
    rport, cport = free_port(), free_port()
    rurl = f"redis://127.0.0.1:{rport}/0"
    secret = secrets.token_urlsafe(48)
    implus = shutil.which("implus", path=str(Path(sys.executable).parent)) or "implus"
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    try:
        redis_proc = subprocess.Popen(
            [
                *("redis-server", "--port", str(rport), "--bind", "127.0.0.1"),
                *("--dir", str(work), "--appendonly", "yes", "--appendfsync", "everysec"),
                *("--save", "", "--loglevel", "warning"),
            ],
            start_new_session=True,
            **quiet,  # type: ignore[arg-type]
        )
        procs.append(redis_proc)
        time.sleep(0.5)
        env = dict(
            os.environ,
            IMPLUS_CHAT_SECRET_KEY=secret,
            IMPLUS_CHAT_REDIS_URL=rurl,
            IMPLUS_CHAT_UPLOAD_DIR=str(work / "up"),
            IMPLUS_CHAT_LOG_LEVEL="warning",
            IMPLUS_CHAT_MAX_CONNECTIONS=str(args.clients + 1000),
        )
        router_proc = subprocess.Popen(
            [implus, "router", "--redis-url", rurl],
            env=env,
            start_new_session=True,
            **quiet,  # type: ignore[arg-type]
        )
        procs.append(router_proc)
        chat = subprocess.Popen(
            [implus, "chat", "--port", str(cport), "--workers", "1"],
            env=env,
            start_new_session=True,
        )
        procs.append(chat)
        for _ in range(150):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{cport}/healthz", timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        [chat_worker] = children(chat.pid)
        reference = redis_reference(rurl, args.rate, min(10.0, args.duration))

        client = RouterClient.from_url(rurl)
        # Cheap hashes: the bench mints tokens itself and never checks a password.
        accounts = AccountStore(
            redis.Redis.from_url(rurl), ChatKeys(), PasswordHasher(time_cost=1, memory_cost=1024)
        )
        signer = TokenSigner(secret.encode(), 3600, 3600)
        # staff tokens name a server-side login session (what a login starts)
        sessions = StaffSessions(accounts.redis, accounts.keys, 3600)
        agent_tokens = []
        for i in range(args.agents):
            aid = f"a{i}"
            client.upsert_agent(
                AgentProfile(id=aid, name=aid, capacity={"voice": 1, "chat": args.capacity})
            )
            acc = accounts.set_password(Role.AGENT, aid, "bench-password")
            agent_tokens.append(
                signer.staff_token(aid, Role.AGENT, acc.generation, sessions.start(Role.AGENT, aid))
            )
        cfg = {
            "ws_url": f"ws://127.0.0.1:{cport}",
            "agent_tokens": agent_tokens,
            "customer_tokens": [
                signer.customer_token(f"c{i}") for i in range(args.clients - args.agents)
            ],
            "ping_token": signer.customer_token("pinger"),
            "active": args.active,
            "rate": args.rate,
            "duration": args.duration,
            "setup_timeout": 300,
        }
        gen = subprocess.Popen(
            [sys.executable, __file__, "--role", "loadgen"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert gen.stdin is not None
        assert gen.stdout is not None
        gen.stdin.write(json.dumps(cfg).encode())
        gen.stdin.close()
        steady: dict[str, Any] = {}
        log: list[str] = []
        watch = threading.Thread(
            target=_watch,
            args=(
                gen,
                log,
                steady,
                cport,
                {"chat": chat_worker, "redis": redis_proc.pid, "router": router_proc.pid},
                args,
            ),
            daemon=True,
        )
        watch.start()
        out_text = gen.stdout.read().decode()
        gen.wait(args.duration + 900)
        watch.join(60)
        if gen.returncode != 0:
            raise RuntimeError("load generator failed:\n" + "\n".join(log[-40:]))
        out = json.loads(out_text.strip().splitlines()[-1])
        lat = out.pop("latencies_ms")
        ping = out.pop("ping_ms")
        return {
            "clients": args.clients,
            "held_by_server": steady.get("server_connections"),
            "held_by_loadgen": out["held"],
            "connect_s": out["connect_s"],
            "agents": args.agents,
            "active_sessions": out["accepted"],
            "rate_per_s": args.rate,
            "achieved_send_rate": out["send_rate"],
            "duration_s": args.duration,
            "sent": out["sent"],
            "received": out["received"],
            "p50_ms": round(pct(lat, 0.5), 2),
            "p99_ms": round(pct(lat, 0.99), 2),
            "max_ms": round(max(lat), 2) if lat else None,
            "mean_ms": round(statistics.fmean(lat), 2) if lat else None,
            "ws_ping_p50_ms": round(pct(ping, 0.5), 2),
            "ws_ping_p99_ms": round(pct(ping, 0.99), 2),
            "reference_xadd_xread": reference,
            "cpu_during_load": steady.get("cpu"),
            "chat_cpu_ms_per_message": round(1000 * steady["chat_cpu_s"] / out["sent"], 3)
            if steady.get("chat_cpu_s") and out["sent"]
            else None,
            "slowest_seconds": out.get("slowest_seconds"),
            "errors": out["errors"],
            "error_count": out["error_count"],
            "reconnects": out["reconnects"],
            "target_met": (steady.get("server_connections") or 0) >= 5000
            and out["received"] == out["sent"]
            and pct(lat, 0.99) <= 50,
            "profile": str(args.profile) if args.profile else None,
        }
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except (ProcessLookupError, PermissionError):
                    p.terminate()
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    p.kill()
        shutil.rmtree(work, ignore_errors=True)


def _watch(
    gen: subprocess.Popen[bytes],
    log: list[str],
    steady: dict[str, Any],
    port: int,
    pids: dict[str, int],
    args: argparse.Namespace,
) -> None:
    """Follow the load generator's progress: at the steady phase count the server's open
    websockets, note CPU times (and start py-spy); at the end, CPU used per process."""
    assert gen.stderr is not None
    spy: subprocess.Popen[bytes] | None = None
    t0: float = 0.0
    before: dict[str, float] = {}
    machine_before = (0.0, 0.0)
    for raw in gen.stderr:
        line = raw.decode(errors="replace").rstrip()
        log.append(line)
        if not args.json:
            print(f"  loadgen: {line}", file=sys.stderr)
        if line == "steady":
            steady["server_connections"] = _server_connections(port)
            t0 = time.monotonic()
            before = {name: cpu_seconds(pid) for name, pid in pids.items()}
            before["loadgen"] = cpu_seconds(gen.pid)
            machine_before = machine_cpu()
            if args.profile:
                exe = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or "py-spy"
                spy = subprocess.Popen(
                    [
                        *(exe, "record", "-o", str(args.profile), "--pid", str(pids["chat"])),
                        *("--duration", str(int(min(args.duration, 30))), "--nonblocking"),
                        *(("--format", "raw") if args.profile.suffix == ".txt" else ()),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
        elif line == "done" and before:
            wall = time.monotonic() - t0
            now = {name: cpu_seconds(pid) for name, pid in pids.items()}
            now["loadgen"] = cpu_seconds(gen.pid)
            steady["cpu"] = {k: f"{(now[k] - before[k]) / wall:.0%}" for k in now}
            busy, _total = machine_cpu()
            ours = sum(now[k] - before[k] for k in now)
            # CPU other programs on this machine used meanwhile (in cores): competition
            steady["cpu"]["other_programs"] = f"{(busy - machine_before[0] - ours) / wall:.0%}"
            steady["chat_cpu_s"] = now["chat"] - before["chat"]
    if spy is not None:
        spy.wait(120)


def _server_connections(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    return int(
        sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("implus_chat_connections{")
        )
    )


if __name__ == "__main__":
    raise SystemExit(main())
