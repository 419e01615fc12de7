"""Benchmark: websockets held by ONE chat process and customer -> agent message latency.

    python benchmarks/chat_fanout.py --clients 5000 --rate 1000 --duration 30 --json

Starts its own redis-server (AOF, everysec), one router worker (`implus router`) and ONE
`implus chat` process (gunicorn, one gevent worker). A load generator process (gevent +
websocket-client) opens `--clients` websockets: `--agents` agent desktops and the rest
customers. `--active` customers start a chat that is routed to an agent (auto-accepted);
then messages are sent round-robin from the active customers at `--rate` per second for
`--duration` seconds, each stamped with its send time; the agent side records the delay
until the message arrives. As a reference, the same run measures a raw Redis XADD ->
XREAD round trip at the same rate. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import shutil
import signal
import socket
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def raise_fd_limit() -> int:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# ---------------------------------------------------------------------------------------
# load generator (its own process, gevent-patched)
# ---------------------------------------------------------------------------------------
def loadgen(cfg: dict[str, Any]) -> dict[str, Any]:
    from gevent import monkey

    monkey.patch_all()
    import gevent
    import websocket

    url = cfg["ws_url"]
    latencies: list[float] = []
    offers_accepted = 0
    errors: list[str] = []
    import gevent.event

    assigned = gevent.event.Event()
    state = {"accepted": 0}

    def agent(token: str) -> None:
        ws = websocket.WebSocket()
        ws.connect(f"{url}/ws/agent", header=[f"Authorization: Bearer {token}"])
        ws.send(json.dumps({"type": "hello"}))
        ws.send(json.dumps({"type": "status", "status": "available"}))

        def beat() -> None:
            while True:
                gevent.sleep(10)
                ws.send(json.dumps({"type": "heartbeat"}))

        gevent.spawn(beat)
        while True:
            f = json.loads(ws.recv())
            if f["type"] == "offer":
                ws.send(json.dumps({"type": "accept", "offer_id": f["offer_id"]}))
            elif f["type"] == "session":
                state["accepted"] += 1
                if state["accepted"] >= cfg["active"]:
                    assigned.set()
            elif f["type"] == "entry" and f["entry"].get("from") == "customer":
                text = f["entry"].get("text", "")
                if text.startswith("t="):
                    latencies.append(time.time() - float(text[2:]))
            elif f["type"] == "error":
                errors.append(f["message"])

    customers: list[Any] = []

    def customer(token: str, active: bool) -> None:
        ws = websocket.WebSocket()
        ws.connect(f"{url}/ws/customer?service=bench", subprotocols=["implus", f"token.{token}"])
        ws.send(json.dumps({"type": "hello"}))
        if active:
            ws.send(json.dumps({"type": "message", "cid": secrets.token_hex(8), "text": "hello"}))
            customers.append(ws)
        while True:
            if not ws.recv():
                return

    t0 = time.time()
    agents = [gevent.spawn(agent, t) for t in cfg["agent_tokens"]]
    gevent.sleep(2)
    conns = []
    for i, tok in enumerate(cfg["customer_tokens"]):
        conns.append(gevent.spawn(customer, tok, i < cfg["active"]))
        if i % 200 == 0:
            gevent.sleep(0.05)
    connect_s = time.time() - t0
    ok = assigned.wait(timeout=cfg["setup_timeout"])
    held = sum(1 for g in conns + agents if not g.dead)
    # steady load
    sent = 0
    interval = 1.0 / cfg["rate"]
    start = time.time()
    next_at = start
    while time.time() - start < cfg["duration"]:
        ws = customers[sent % len(customers)]
        ws.send(
            json.dumps(
                {"type": "message", "cid": secrets.token_hex(8), "text": f"t={time.time():.6f}"}
            )
        )
        sent += 1
        next_at += interval
        gevent.sleep(max(0.0, next_at - time.time()))
    gevent.sleep(2)
    return {
        "connect_s": round(connect_s, 2),
        "held": held,
        "all_assigned": ok,
        "accepted": state["accepted"],
        "sent": sent,
        "received": len(latencies),
        "latencies_ms": [x * 1000 for x in latencies],
        "errors": errors[:5],
        "offers_accepted": offers_accepted,
    }


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
    ms = [x * 1000 for x in lat]
    return {"p50_ms": round(pct(ms, 0.5), 3), "p99_ms": round(pct(ms, 0.99), 3), "n": len(ms)}


# ---------------------------------------------------------------------------------------
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=5000, help="websockets in total")
    ap.add_argument("--agents", type=int, default=100)
    ap.add_argument("--capacity", type=int, default=10, help="chats per agent")
    ap.add_argument("--active", type=int, default=1000, help="customers in a routed chat")
    ap.add_argument("--rate", type=int, default=1000, help="messages per second")
    ap.add_argument("--duration", type=float, default=30)
    ap.add_argument("--json", action="store_true", help="print only the JSON result")
    ap.add_argument("--role", default="main", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.role == "loadgen":
        cfg = json.load(sys.stdin)
        raise_fd_limit()
        print(json.dumps(loadgen(cfg)))
        return 0
    raise_fd_limit()
    result = run(args)
    line = json.dumps(result)
    if not args.json:
        for k, v in result.items():
            print(f"{k:>22}: {v}", file=sys.stderr)
    print(line)
    return 0


def run(args: argparse.Namespace) -> dict[str, Any]:
    import redis

    sys.path.insert(0, str(ROOT))
    from chat.accounts import AccountStore, Role
    from chat.keys import ChatKeys
    from chat.tokens import TokenSigner

    work = Path(tempfile.mkdtemp(prefix="implus-bench-"))
    procs: list[subprocess.Popen[bytes]] = []
    rport, cport = free_port(), free_port()
    rurl = f"redis://127.0.0.1:{rport}/0"
    secret = secrets.token_urlsafe(48)
    bindir = Path(sys.executable).parent
    implus = shutil.which("implus", path=str(bindir)) or "implus"
    try:
        procs.append(
            subprocess.Popen(
                [
                    "redis-server",
                    "--port",
                    str(rport),
                    "--bind",
                    "127.0.0.1",
                    "--dir",
                    str(work),
                    "--appendonly",
                    "yes",
                    "--appendfsync",
                    "everysec",
                    "--save",
                    "",
                    "--loglevel",
                    "warning",
                ],
                stdout=subprocess.DEVNULL,
                start_new_session=True,
            )
        )
        time.sleep(0.5)
        env = dict(
            os.environ,
            IMPLUS_CHAT_SECRET_KEY=secret,
            IMPLUS_CHAT_REDIS_URL=rurl,
            IMPLUS_CHAT_UPLOAD_DIR=str(work / "up"),
            IMPLUS_CHAT_LOG_LEVEL="warning",
            IMPLUS_CHAT_MAX_CONNECTIONS=str(args.clients + 1000),
            IMPLUS_CHAT_RATE_PER_SECOND="50",
            IMPLUS_CHAT_RATE_BURST="100",
        )
        procs.append(
            subprocess.Popen(
                [implus, "router", "--redis-url", rurl], env=env, start_new_session=True
            )
        )
        procs.append(
            subprocess.Popen(
                [implus, "chat", "--port", str(cport), "--workers", "1"],
                env=env,
                start_new_session=True,
            )
        )
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{cport}/healthz", timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        r = redis.Redis.from_url(rurl)
        reference = redis_reference(rurl, args.rate, min(10.0, args.duration))
        from router.client import RouterClient
        from router.model import AgentProfile

        client = RouterClient.from_url(rurl)
        accounts = AccountStore(r, ChatKeys())
        signer = TokenSigner(secret.encode(), 3600, 3600)
        agent_tokens = []
        for i in range(args.agents):
            aid = f"a{i}"
            client.upsert_agent(
                AgentProfile(
                    id=aid,
                    name=aid,
                    skills={"bench": 1},
                    capacity={"voice": 1, "chat": args.capacity},
                )
            )
            acc = accounts.set_password(Role.AGENT, aid, "bench-password")
            agent_tokens.append(signer.staff_token(aid, Role.AGENT, acc.generation))
        customers = [signer.customer_token(f"c{i}") for i in range(args.clients - args.agents)]
        cfg = {
            "ws_url": f"ws://127.0.0.1:{cport}",
            "agent_tokens": agent_tokens,
            "customer_tokens": customers,
            "active": args.active,
            "rate": args.rate,
            "duration": args.duration,
            "setup_timeout": 120,
        }
        gen = subprocess.run(
            [sys.executable, __file__, "--role", "loadgen"],
            input=json.dumps(cfg).encode(),
            capture_output=True,
            check=False,
            timeout=args.duration + 600,
        )
        if gen.returncode != 0:
            raise RuntimeError(gen.stderr.decode()[-3000:])
        out = json.loads(gen.stdout.decode().strip().splitlines()[-1])
        lat = out.pop("latencies_ms")
        return {
            "clients": args.clients,
            "held": out["held"],
            "agents": args.agents,
            "active_sessions": out["accepted"],
            "rate_per_s": args.rate,
            "duration_s": args.duration,
            "sent": out["sent"],
            "received": out["received"],
            "p50_ms": round(pct(lat, 0.5), 2),
            "p99_ms": round(pct(lat, 0.99), 2),
            "max_ms": round(max(lat), 2) if lat else None,
            "mean_ms": round(statistics.fmean(lat), 2) if lat else None,
            "reference_xadd_xread": reference,
            "connect_s": out["connect_s"],
            "errors": out["errors"],
            "target_met": out["held"] >= 5000 and bool(lat) and pct(lat, 0.99) <= 50,
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


if __name__ == "__main__":
    raise SystemExit(main())
