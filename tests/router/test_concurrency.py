"""Many workers, many agents, many requests at once - invariants checked from the event log.

Four `implus router` worker processes route 20,000 requests arriving over a few seconds to
1,000 agents who accept (most), reject, ignore (offer timeout) and finish contacts, while
some customers abandon. Afterwards the recorded `events` stream alone must show zero
double assignments, zero lost requests and capacity never exceeded.
"""

from __future__ import annotations

import heapq
import random
import signal
import subprocess
import sys
import threading
import time

import pytest

from router.audit import audit
from router.client import RouterClient, new_id
from router.model import AgentProfile, Channel
from router.ops import Batch, Script

AGENTS = 1000
REQUESTS = 20_000
WORKERS = 4
STRATEGY = """
defaults: {queue: general, offer_timeout: 1, reject_delay: 0.5, max_no_answer: 0,
           wrapup: {voice: 0, chat: 0, voip: 0}, known_agent_wait: 1}
queues: {general: {}, sales: {skills: {sales: 1}}}
rules:
  - {name: sales, conditions: service == "sales", actions: {queue: sales}, order: least_load,
     goals: [{after: 2, add_queue: general}]}
  - {name: rest, actions: {queue: general}, order: longest_idle}
"""


@pytest.mark.slow
def test_no_double_assignment_no_loss_no_overbooking(redis_url, tmp_path):
    client = RouterClient.from_url(redis_url)
    client.load_strategy(STRATEGY)
    capacity = {}
    rng = random.Random(7)
    for i in range(AGENTS):
        cap = {"voice": 1, "chat": rng.choice([1, 2, 3])}
        skills = {"sales": 1} if i % 3 == 0 else {}
        client.upsert_agent(AgentProfile(id=f"a{i}", skills=skills, capacity=cap))
        client.heartbeat(f"a{i}", ttl=600)
        client.heartbeat(f"a{i}", "sip", ttl=600, device="available")
        assert client.set_status(f"a{i}", "available")
        capacity[f"a{i}"] = cap
    start_id = client.redis.xrevrange(client.keys.events(), count=1)[0][0]

    worker_log = (tmp_path / "workers.log").open("wb")
    workers = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from router.cli import main; main()",
            "router",
            "--redis-url",
            redis_url,
            "--workers",
            str(WORKERS),
        ],
        stdout=subprocess.DEVNULL,
        stderr=worker_log,
    )
    t_start = time.monotonic()
    submitted: list[str] = []
    stop = threading.Event()

    def customers() -> None:
        crng = random.Random(11)
        abandon: list[tuple[float, str]] = []
        for start in range(0, REQUESTS, 100):
            burst = []
            for n in range(start, start + 100):
                channel = "voice" if n % 5 == 0 else "chat"
                service = "sales" if n % 4 == 0 else "support"
                user = f"u{crng.randrange(REQUESTS // 2)}"  # returning users: known-agent routing
                rid = new_id()
                burst.append(
                    Script(
                        "submit",
                        (rid, new_id(), channel, service, user, "{}", 0, "", "", "", "", ""),
                    )
                )
                submitted.append(rid)
                if crng.random() < 0.03:
                    abandon.append((time.monotonic() + crng.random() * 0.5, rid))
            client.execute(Batch(tuple(burst)))  # customers arrive in bursts of 100
            time.sleep(0.01)
            now = time.monotonic()
            due = [rid for at, rid in abandon if at <= now]
            abandon = [(at, rid) for at, rid in abandon if at > now]
            if due:
                client.execute(
                    Batch(tuple(Script("cancel", (rid, "caller hung up")) for rid in due))
                )
        for _, rid in abandon:
            client.cancel(rid, "caller hung up")

    def agents() -> None:
        arng = random.Random(13)
        last = start_id
        finish: list[tuple[float, str]] = []
        while not stop.is_set():
            steps = []
            for e in client.read_events(last, block_ms=20, count=5000):
                last = e.id
                if e.type == "offer.created":
                    roll = arng.random()
                    if roll < 0.05:
                        steps.append(
                            Script(
                                "release", (e.get("offer"), e.get("agent"), "rejected", "busy", 0)
                            )
                        )
                    elif roll < 0.07:
                        pass  # never answered: the offer times out and goes to someone else
                    else:
                        steps.append(Script("accept", (e.get("offer"), e.get("agent"), 60_000)))
                elif e.type == "offer.accepted":
                    heapq.heappush(
                        finish, (time.monotonic() + arng.random() * 0.3, e.get("request"))
                    )
            now = time.monotonic()
            while finish and finish[0][0] <= now:
                steps.append(Script("complete", (heapq.heappop(finish)[1], "done")))
            if steps:
                client.execute(Batch(tuple(steps)))

    threads = [threading.Thread(target=customers), threading.Thread(target=agents)]
    for t in threads:
        t.start()
    try:
        threads[0].join(120)
        print(f"submitted in {time.monotonic() - t_start:.1f}s")
        # Wait until every request has ended; fail if nothing moves for 30 s (a lost
        # request or lost wakeup), not on speed (this test checks correctness).
        last_open, last_change = -1, time.monotonic()
        while True:
            open_now = client.redis.eval(
                "local n = 0 for _, k in ipairs(redis.call('KEYS', ARGV[1])) do "
                "local s = redis.call('HGET', k, 'state') "
                "if s == 'queued' or s == 'offered' or s == 'accepted' then n = n + 1 end end return n",
                0,
                client.keys.request("*"),
            )
            if open_now == 0 and len(submitted) == REQUESTS:
                break
            if open_now != last_open:
                last_open, last_change = open_now, time.monotonic()
            elif time.monotonic() - last_change > 30:
                raise AssertionError(f"{open_now} requests stuck for 30 s\n{_diagnose(client)}")
            time.sleep(0.5)
    finally:
        stop.set()
        threads[1].join(30)
        workers.send_signal(signal.SIGTERM)
        try:
            workers.wait(20)
        except subprocess.TimeoutExpired:
            workers.kill()
            raise
        finally:
            worker_log.close()
    elapsed = time.monotonic() - t_start
    assert workers.returncode in (0, -signal.SIGTERM), (tmp_path / "workers.log").read_text()[
        -2000:
    ]
    print(f"{REQUESTS} requests routed and finished in {elapsed:.1f}s")

    log = client.read_events(start_id, None, 10_000_000)
    report = audit(log, capacity)
    assert report.requests == REQUESTS, (
        "the event log lost request.created events (stream trimmed?)"
    )
    assert report.ok, report.problems[:20]
    assert report.open_requests == []
    assert report.ended["contact.ended"] + report.ended["request.cancelled"] == REQUESTS
    assert report.ended["request.cancelled"] > 100  # the abandon path really ran
    assert report.offers > report.accepted  # rejects and timeouts really happened
    assert max(report.peak_load.values()) >= 2  # multi-chat capacity was used


def _diagnose(client: RouterClient) -> str:
    """What the stuck requests and the agents look like, for the failure message."""
    from collections import Counter

    requests = [
        client.request(k.split(":")[-1]) for k in client.redis.keys(client.keys.request("*"))
    ]
    open_ = [r for r in requests if r and r.state.value in ("queued", "offered", "accepted")]
    states = Counter((r.state.value, r.channel.value) for r in open_)
    now = client.ops.clock()
    free = Counter(
        ch.value
        for a in client.agents()
        for ch in (Channel.CHAT, Channel.VOICE)
        if a.unavailable_reason(ch, now) is None
    )
    sample = open_[0] if open_ else None
    trace = client.explain(sample.id)[-3:] if sample else []
    timers = client.redis.zrange(client.keys.timers(), 0, 4, withscores=True)
    return (
        f"open: {dict(states)}; free agents: {dict(free)}; sample {sample}; traces {trace}; "
        f"timers head {timers}; now {now}"
    )
