"""The load generator of chat_fanout.py, run as its own gevent-patched process
(`chat_fanout.py --role loadgen`, its config as JSON on stdin, its result as JSON on
stdout): agent desktops and customers on websockets, messages at the given rate, their
latencies and a websocket ping series. Progress lines go to stderr.
"""

from __future__ import annotations

import gc
import json
import random
import secrets
import sys
import time
from typing import Any


def loadgen(cfg: dict[str, Any]) -> dict[str, Any]:
    from gevent import monkey

    monkey.patch_all()
    import gevent
    import gevent.event
    import websocket

    url = cfg["ws_url"]
    latencies: list[float] = []
    arrivals: list[float] = []
    pings: list[float] = []
    errors: list[str] = []
    assigned = gevent.event.Event()
    everyone = gevent.event.Event()
    state = {"accepted": 0, "connected": 0, "reconnects": 0}
    total = len(cfg["agent_tokens"]) + len(cfg["customer_tokens"])

    def connected() -> None:
        state["connected"] += 1
        if state["connected"] >= total:
            everyone.set()

    def agent(token: str) -> None:
        ws = websocket.WebSocket()
        ws.connect(f"{url}/ws/agent", header=[f"Authorization: Bearer {token}"])
        ws.send(json.dumps({"type": "hello"}))
        ws.send(json.dumps({"type": "status", "status": "available"}))
        connected()
        while True:
            f = json.loads(ws.recv())
            kind = f["type"]
            if kind == "entry":
                text = f["entry"].get("text", "")
                if text.startswith("t="):
                    now = time.time()
                    latencies.append(now - float(text[2:]))
                    arrivals.append(now)
            elif kind == "offer":
                ws.send(json.dumps({"type": "accept", "offer_id": f["offer_id"]}))
            elif kind == "session":
                state["accepted"] += 1
                if state["accepted"] >= cfg["active"]:
                    assigned.set()
            elif kind == "error":
                errors.append(f["message"])

    senders: list[dict[str, Any]] = []

    def customer(token: str, active: bool) -> None:
        """A widget: connects, says hello, (re)connects when the server closes it."""
        me: dict[str, Any] = {"ws": None}
        first = True
        while True:
            try:
                ws = websocket.WebSocket()
                ws.connect(
                    f"{url}/ws/customer?service=bench", subprotocols=["implus", f"token.{token}"]
                )
                ws.send(json.dumps({"type": "hello"}))
                me["ws"] = ws
                if first:
                    connected()
                    if active:
                        ws.send(
                            json.dumps(
                                {"type": "message", "cid": f"h{token[-8:]}", "text": "hello"}
                            )
                        )
                        senders.append(me)
                    first = False
                while True:
                    raw = ws.recv()
                    if not raw:
                        break
                    if '"error"' in raw:
                        errors.append(json.loads(raw).get("message", raw))
            except (websocket.WebSocketException, OSError):
                pass
            me["ws"] = None
            state["reconnects"] += 1
            gevent.sleep(0.5 + random.random())

    def pinger(token: str, stop: gevent.event.Event) -> None:
        ws = websocket.WebSocket()
        ws.connect(f"{url}/ws/customer?service=ping", subprotocols=["implus", f"token.{token}"])
        while not stop.is_set():
            t = time.time()
            ws.send('{"type":"ping"}')
            while json.loads(ws.recv())["type"] != "pong":
                pass
            pings.append(time.time() - t)
            gevent.sleep(0.1)
        ws.close()

    t0 = time.time()
    agents = [gevent.spawn(agent, t) for t in cfg["agent_tokens"]]
    conns = []
    for i, tok in enumerate(cfg["customer_tokens"]):
        conns.append(gevent.spawn(customer, tok, i < cfg["active"]))
        if i % 100 == 0:
            gevent.sleep(0.02)
    all_connected = everyone.wait(timeout=cfg["setup_timeout"])
    connect_s = time.time() - t0
    print(f"connected {state['connected']} in {connect_s:.1f} s", file=sys.stderr, flush=True)
    ok = assigned.wait(timeout=cfg["setup_timeout"])
    gevent.sleep(1)
    print(f"assigned {state['accepted']}", file=sys.stderr, flush=True)
    stop = gevent.event.Event()
    ping = gevent.spawn(pinger, cfg["ping_token"], stop)
    # The load generator stamps every arrival: a pause of its own garbage collector would
    # be counted as chat latency, so it does not collect during the measurement.
    gc.collect()
    gc.freeze()
    gc.disable()
    print("steady", file=sys.stderr, flush=True)
    sent = 0
    interval = 1.0 / cfg["rate"]
    start = time.time()
    next_at = start
    skipped = 0
    while time.time() - start < cfg["duration"]:
        ws = senders[(sent + skipped) % len(senders)]["ws"]
        if ws is None:  # reconnecting
            skipped += 1
            continue
        ws.send(
            json.dumps(
                {"type": "message", "cid": secrets.token_hex(8), "text": f"t={time.time():.6f}"}
            )
        )
        sent += 1
        next_at += interval
        gevent.sleep(max(0.0, next_at - time.time()))
    send_s = time.time() - start
    print("done", file=sys.stderr, flush=True)
    stop.set()
    deadline = time.time() + 10
    while len(latencies) < sent and time.time() < deadline:
        gevent.sleep(0.1)
    ping.join(2)
    held = sum(1 for g in conns + agents if not g.dead)
    return {
        "connect_s": round(connect_s, 2),
        "all_connected": all_connected,
        "held": held,
        "all_assigned": ok,
        "accepted": state["accepted"],
        "sent": sent,
        "send_rate": round(sent / send_s, 1),
        "received": len(latencies),
        "latencies_ms": [x * 1000 for x in latencies],
        "slowest_seconds": slowest_seconds(start, arrivals, latencies),
        "ping_ms": [x * 1000 for x in pings],
        "errors": errors[:5],
        "error_count": len(errors),
        "reconnects": state["reconnects"],
    }


def slowest_seconds(
    start: float, arrivals: list[float], latencies: list[float], n: int = 5
) -> list[dict[str, float]]:
    """The N seconds of the run whose messages arrived latest: where a tail comes from (a
    few stalls, or everything slow)."""
    worst: dict[int, list[float]] = {}
    for at, lat in zip(arrivals, latencies, strict=True):
        worst.setdefault(int(at - start), []).append(lat * 1000)
    rows = [
        {"second": sec, "max_ms": round(max(v), 1), "over_50ms": sum(1 for x in v if x > 50)}
        for sec, v in worst.items()
    ]
    return sorted(rows, key=lambda r: -r["max_ms"])[:n]
