"""Chaos: what each kind of fault costs under steady routing + chat + call load.

    python benchmarks/chaos.py --json
    python benchmarks/chaos.py --faults redis_master,bridge --after 15 --json

Runs on loopback only and stops by itself (each phase is bounded; --max-seconds caps the
whole run). The stack (tests/ha/ha_stack.py): a Redis Sentinel deployment (master, two
replicas, three `redis-sentinel`s), two allocation workers (`implus router`), the chat
service (`implus chat`), the ESL bridge (`python -m esl_bridge`) against the fake
FreeSWITCH (tests/freeswitch_fixture), the reports sink - each given only the
`redis+sentinel://` URL. Load per phase: 4 customers writing a message every 0.25 s
(resending what was not acknowledged, like the widget), 2 chat agents accepting every
offer, a caller every second (talks 1.5 s), and from the fault on a new one-message chat
every 0.5 s (the probes).

Faults, in turn, each after --steady seconds of load: `worker` (SIGKILL one allocation
worker; its supervisor restarts it 1 s later), `chat` (SIGKILL the chat service's process
group; restarted 1 s later), `bridge` (SIGKILL the ESL bridge; restarted 1 s later),
`redis_master` (SIGKILL the Redis master: Sentinel promotes a replica; the dead node is
restarted once the failover is done and rejoins as a replica), `pbx` (the FreeSWITCH
restarted: every call dropped, back 2 s later).

Per fault, after --after seconds the load stops, calls are hung up, and the router's state
is checked (tests/ha/ha_stack.py `verdict`): `acked_lost` (acknowledged messages missing
from their transcript + accepts a desktop was told about that are not in force; goal 0),
`double_assigned` (contacts held by two agents; goal 0), `recover_s` (seconds from the
fault until a contact filed after it was routed: the later of the first chat probe offered
and the first new call connected), `agents_stuck` (agents still busy or unavailable 15 s
after every contact ended; goal 0).

Also measured first: what waiting for the replicas costs an acknowledgement (`wait_cost`:
the router's append with and without WAIT, sequential, same deployment).

The last line printed is one JSON object with `faults` (one object per fault).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
for sub in ("tests", "tests/ha", "tests/chat", "tests/fsbridge"):
    sys.path.insert(0, str(ROOT / sub))

from ha_stack import CHAT_AGENTS, HaStack  # noqa: E402
from load import Agent, Caller, Customer, Prober, Record  # noqa: E402

from router.client import RouterClient  # noqa: E402
from router.errors import RouterUnavailable  # noqa: E402

FAULTS = ("worker", "chat", "bridge", "redis_master", "pbx")
RESTART_AFTER_S = 1.0


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def later(seconds: float, action: Any) -> threading.Thread:
    """Run `action` after `seconds` in a thread (a supervisor restarting what died)."""

    def run() -> None:
        time.sleep(seconds)
        action()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def wait_cost(stack: HaStack, n: int) -> dict[str, Any]:
    """Latency of the router's append with WAIT (every online replica) and without."""
    durable = RouterClient.from_url(stack.url)
    plain = RouterClient.from_url(stack.url + "?wait_replicas=0")
    session = durable.submit(channel="chat", service="bench", user_id="bench").session_id
    times: dict[str, list[float]] = {"wait": [], "no_wait": []}
    for block in range(10):
        for name, client in (("wait", durable), ("no_wait", plain)):
            for i in range(n // 10):
                t = time.perf_counter()
                client.append(session, {"type": "message", "text": "x"}, f"{name}-{block}-{i}")
                times[name].append(time.perf_counter() - t)
    for c in (durable, plain):
        c.close()
    out: dict[str, Any] = {"appends": n, "replicas": 2}
    for name, ts in times.items():
        ts.sort()
        out[f"{name}_p50_ms"] = round(ts[len(ts) // 2] * 1000, 3)
        out[f"{name}_p99_ms"] = round(ts[int(len(ts) * 0.99)] * 1000, 3)
        out[f"{name}_per_s"] = round(len(ts) / sum(ts))
    out["added_p50_ms"] = round(out["wait_p50_ms"] - out["no_wait_p50_ms"], 3)
    return out


def inject(stack: HaStack, fault: str) -> list[threading.Thread]:
    """Cause `fault` now; returns the threads that bring things back."""
    assert stack.chat is not None
    assert stack.bridge is not None
    if fault == "worker":
        victim = stack.workers[0]
        victim.kill()
        return [later(RESTART_AFTER_S, victim.start)]
    if fault == "chat":
        chat = stack.chat
        assert chat.proc is not None
        os.killpg(chat.proc.pid, signal.SIGKILL)
        chat.proc.wait(10)
        chat.proc = None
        return [later(RESTART_AFTER_S, chat.start)]
    if fault == "bridge":
        stack.bridge.kill()
        return [later(RESTART_AFTER_S, stack.bridge.start)]
    if fault == "redis_master":
        old = stack.ha.kill_master()

        def rejoin() -> None:
            stack.ha.wait_failover(old.port)
            old.start()  # its supervisor; Sentinel turns it into a replica

        return [later(0, rejoin)]
    if fault == "pbx":
        fs = stack.fs
        port = fs.port
        fs.stop()
        for uuid in list(fs.calls.legs):  # a restart drops every call
            with contextlib.suppress(Exception):
                fs.calls.hangup(uuid, "SYSTEM_SHUTDOWN")
        return [later(2.0, lambda: fs.start(port))]
    raise ValueError(f"unknown fault {fault!r}; one of {', '.join(FAULTS)}")


def phase(stack: HaStack, fault: str, index: int, steady: float, after: float) -> dict[str, Any]:
    assert stack.chat is not None
    ws = stack.chat.ws_url
    record, stop = Record(), threading.Event()
    tokens = [(f"c{index}-{i}", stack.customer_token(f"c{index}-{i}")) for i in range(4)]
    probes = [(f"p{index}-{i}", stack.customer_token(f"p{index}-{i}")) for i in range(60)]
    agents = [Agent(ws, stack.tokens[a], a, record, stop) for a in CHAT_AGENTS]
    for a in agents:
        a.start()
        a.welcomed.wait(15)
    customers = [Customer(ws, tok, user, record, stop) for user, tok in tokens]
    caller = Caller(
        stack.fs.calls, record, stop, number=lambda i, k=index: f"+49{k:02d}{i:07d}"
    )  # fmt: skip
    for t in [*customers, caller]:
        t.start()
    time.sleep(steady)
    log(f"fault {fault}: {len(record.acked)} messages acknowledged so far")
    at = time.monotonic()
    helpers = inject(stack, fault)
    prober = Prober(ws, probes, record, stop, every=0.5)
    prober.start()
    time.sleep(after)
    stop.set()
    for t in [*agents, *customers, caller, prober, *prober.started, *helpers]:
        t.join(15)
    caller.hang_up_all()
    if fault == "redis_master":
        with contextlib.suppress(RuntimeError):
            stack.ha.wait_replicated(20)
    verdict = stack.verdict(record)
    chat_s, call_s = record.first_offer_after(at), record.first_bridge_after(at)
    recover = None if chat_s is None or call_s is None else round(max(chat_s, call_s), 2)
    out = {
        "fault": fault,
        "acked_lost": verdict.acked_lost,
        "acked_duplicated": verdict.acked_duplicated,
        "double_assigned": verdict.double_assigned,
        "recover_s": recover,
        "chat_recover_s": None if chat_s is None else round(chat_s, 2),
        "call_recover_s": None if call_s is None else round(call_s, 2),
        "agents_stuck": verdict.agents_stuck,
        "acked": len(record.acked),
        "accepted": len(record.accepted),
        "calls": len(record.calls),
        "calls_connected": len(record.bridged_at),
        "errors_seen": record.errors,
        "details": verdict.details[:10],
    }
    log(json.dumps(out))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--faults", default=",".join(FAULTS), help="comma-separated, in order")
    ap.add_argument("--steady", type=float, default=4.0, help="seconds of load before a fault")
    ap.add_argument("--after", type=float, default=12.0, help="seconds of load after it")
    ap.add_argument("--wait-appends", type=int, default=2000, help="appends per wait_cost side")
    ap.add_argument("--max-seconds", type=float, default=900, help="stop the run after this")
    ap.add_argument("--keep", action="store_true", help="keep the logs' folder")
    ap.add_argument("--json", action="store_true", help="print the JSON result line")
    args = ap.parse_args()
    faults = [f for f in args.faults.split(",") if f]
    for f in faults:
        if f not in FAULTS:
            ap.error(f"unknown fault {f!r}; one of {', '.join(FAULTS)}")
    threading.Timer(args.max_seconds, lambda: os._exit(3)).start()
    folder = Path(tempfile.mkdtemp(prefix="implus-chaos-"))
    stack = HaStack(folder, workers=2)
    result: dict[str, Any] = {"benchmark": "chaos", "faults": []}
    try:
        log(f"starting the stack in {folder}")
        stack.start()
        result["wait_cost"] = wait_cost(stack, args.wait_appends)
        log(f"wait cost: {result['wait_cost']}")
        for i, fault in enumerate(faults):
            try:
                result["faults"].append(phase(stack, fault, i, args.steady, args.after))
            except (AssertionError, RouterUnavailable, RuntimeError) as e:
                result["faults"].append({"fault": fault, "error": str(e)[:500]})
                log(f"fault {fault}: the phase failed: {e}")
    finally:
        stack.stop()
        if not args.keep:
            import shutil

            shutil.rmtree(folder, ignore_errors=True)
        else:
            log(f"logs kept in {folder}")
    lost = [f.get("acked_lost") for f in result["faults"]]
    result["summary"] = {
        "acked_lost": sum(x for x in lost if isinstance(x, int)),
        "double_assigned": sum(f.get("double_assigned", 0) for f in result["faults"]),
        "agents_stuck": sum(f.get("agents_stuck", 0) for f in result["faults"]),
        "recover_s_max": max(
            (f["recover_s"] for f in result["faults"] if f.get("recover_s") is not None),
            default=None,
        ),
        "recover_s_median": statistics.median(
            [f["recover_s"] for f in result["faults"] if f.get("recover_s") is not None] or [0]
        ),
    }
    if args.json:
        print(json.dumps(result))
    os._exit(0)  # the timer thread must not hold the exit


if __name__ == "__main__":
    main()
