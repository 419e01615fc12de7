"""End to end at the router: requests, offers, accepts, rejects, a time-out, a transfer, an
abandon and an overflow driven through router.client with a real allocation worker on the
real redis-server; the sink stores the events stream; the reports give the figures worked
out by hand below (on SQLite and PostgreSQL).

The clock starts at 08:00:00 UTC; t is seconds after that. Strategy: booking (target
20 s, overflow to voicemail after 120 s) and billing (target 30 s); wrap-up 5 s for
voice, none for chat.

====  =====================================================================================
t     what happens
====  =====================================================================================
0     alice available. R1 call to booking: offered to alice
8     alice answers R1 (wait 8 s, within 20 s)
128   R1 ends (handled 120 s, then 5 s wrap-up)
200   R2 chat to billing: offered to alice
221   alice's offer times out (a no-answer); R2 waits
225   bob available: R2 offered to bob
230   bob accepts R2 (wait 30 s: within billing's 30 s)
290   bob goes away (break) and transfers R2 to billing (handled 60 s): R3 offered to alice
295   alice accepts R3 (wait 5 s)
395   R3 ends (handled 100 s)
400   R4 call to booking: offered to alice, who rejects it at 403
415   R4's caller hangs up (abandoned after 15 s)
500   R5 call to booking: offered to alice, whose phone does not answer (502)
505   alice goes away (lunch)
620   R5 overflows to voicemail (waited 120 s)
700   alice and bob log off
====  =====================================================================================

Expected for 08:00-09:00: booking offered 3 (R1 R4 R5), answered 1, abandoned 1 after
15 s, overflowed 1, 1 in SL -> 0.3333, ASA 8 s, AHT 120 s, wrap-up 5 s, no-answers 1.
billing offered 2 (R2 R3), answered 2, both in SL -> 1.0, ASA 17.5 s, AHT 80 s, wrap-up
0 s, transfers 1, no-answers 1. alice: 5 offers, 2 answered, 1 rejected, 2 no-answers,
AHT 110 s, wrap-up 2.5 s, available 505 s, away 195 s, offline 2900 s, occupancy
(120+5+100)/505. bob: 1 offer answered, AHT 60 s, 1 transfer, available 65 s, away
410 s, offline 2900 s, occupancy 60/65.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from feed import T0
from sqlalchemy.engine import Engine

from reports.check import session_figures
from reports.figures import report
from reports.periods import parse_period
from reports.sink import Sink
from reports.store import Store
from router.client import RouterClient
from router.keys import Keys
from router.model import AgentProfile
from router.worker import Worker, WorkerSettings

pytestmark = pytest.mark.redis
START = int(T0.timestamp() * 1000)
STRATEGY = """
defaults: {offer_timeout: 20, reject_delay: 10, max_no_answer: 5, known_agent_wait: 0,
           wrapup: {voice: 5, chat: 0, voip: 5}}
queues:
  booking: {service_level: 20}
  billing: {service_level: 30}
rules:
  - name: booking
    conditions: service == "booking"
    actions: {queue: booking}
    goals: [{after: 120, overflow: voicemail}]
  - name: billing
    conditions: service == "billing"
    actions: {queue: billing}
"""


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> int:
        return self.now

    def at(self, seconds: float) -> None:
        self.now = START + int(seconds * 1000)


class Centre:
    """The router client and a worker the test steps, on a clock it sets."""

    def __init__(self, url: str) -> None:
        self.clock = Clock()
        self.client = RouterClient.from_url(url, clock=self.clock)
        self.worker = Worker(
            self.client,
            name="test-worker",
            settings=WorkerSettings(
                block_ms=1, timer_interval_ms=0, reaper_interval_ms=0, claim_idle_ms=60_000
            ),
        )
        self.worker.start()

    def drain(self) -> None:
        idle = 0
        for _ in range(50):
            idle = idle + 1 if self.worker.step(block_ms=1) == 0 else 0
            if idle >= 2:
                return

    def available(self, agent: str) -> None:
        self.client.upsert_agent(
            AgentProfile(id=agent, name=agent.title(), capacity={"voice": 1, "chat": 2})
        )
        self.client.heartbeat(agent, ttl=3600)
        self.client.heartbeat(agent, "sip", ttl=3600, device="available")
        assert self.client.set_status(agent, "available")
        self.drain()

    def offer_of(self, agent: str) -> str:
        [offer] = self.client.agent_offers(agent)
        return offer.id


@pytest.fixture
def centre(redis_url: str) -> Iterator[Centre]:
    c = Centre(redis_url)
    yield c
    c.client.close()


def play(c: Centre) -> list[str]:
    """The table of the module doc; returns the session ids."""
    r, clock = c.client, c.clock
    r.load_strategy(STRATEGY)
    c.available("alice")
    r1 = r.submit("voice", "booking", "+441234500001", pbx="ast1", call_id="call-1")
    c.drain()
    clock.at(8)
    assert r.accept(c.offer_of("alice"), "alice")
    clock.at(128)
    assert r.complete(r1.request_id, "solved")
    clock.at(200)
    r2 = r.submit("chat", "billing", "web-1")
    c.drain()
    assert c.offer_of("alice")
    clock.at(221)
    c.drain()  # the offer timer fires
    assert not r.agent_offers("alice")
    clock.at(225)
    c.available("bob")
    clock.at(230)
    assert r.accept(c.offer_of("bob"), "bob")
    clock.at(290)
    assert r.set_status("bob", "away", "break")
    moved = r.transfer(r2.request_id, queue="billing", by="bob")
    assert moved
    c.drain()
    clock.at(295)
    assert r.accept(c.offer_of("alice"), "alice")
    clock.at(395)
    assert r.complete(moved.request_id)
    clock.at(400)
    r4 = r.submit("voice", "booking", "+441234500004", pbx="ast1", call_id="call-4")
    c.drain()
    clock.at(403)
    assert r.reject(c.offer_of("alice"), "alice")
    c.drain()
    clock.at(415)
    assert r.cancel(r4.request_id, "caller hung up")
    clock.at(500)
    r5 = r.submit("voice", "booking", "+441234500005", pbx="ast1", call_id="call-5")
    c.drain()
    clock.at(502)
    assert r.offer_failed(c.offer_of("alice"), "no_answer")
    c.drain()
    clock.at(505)
    assert r.set_status("alice", "away", "lunch")
    clock.at(620)
    c.drain()  # the goal: overflow
    assert r.request(r5.request_id).state.value == "overflowed"
    clock.at(700)
    assert r.set_status("alice", "offline")
    assert r.set_status("bob", "offline")
    return [r1.session_id, r2.session_id, r4.session_id, r5.session_id]


def test_router_sequence_gives_the_hand_computed_figures(
    centre: Centre, redis_url: str, engine: Engine
) -> None:
    sessions = play(centre)
    sink = Sink(redis.Redis.from_url(redis_url, decode_responses=True), Keys(), Store(engine, b"k"))
    assert sink.acquire()
    sink.drain()
    sink.release()
    period = parse_period("2026-11-30T08:00", "2026-11-30T09:00", "total")
    with engine.connect() as conn:
        queues = {r["key"]: r for r in report(conn, "queue", period, START + 3_600_000)}
        agents = {r["key"]: r for r in report(conn, "agent", period, START + 3_600_000)}
    booking, billing = queues["booking"], queues["billing"]
    assert set(queues) == {"booking", "billing"}
    assert {k: booking[k] for k in FIGURES} == {
        "offered": 3, "answered": 1, "abandoned": 1, "abandon_wait_s": 15.0,
        "max_abandon_wait_s": 15.0, "overflowed": 1, "answered_in_sl": 1,
        "service_level": 0.3333, "asa_s": 8.0, "aht_s": 120.0, "avg_wrapup_s": 5.0,
        "transfers": 0, "no_answers": 1,
    }  # fmt: skip
    assert {k: billing[k] for k in FIGURES} == {
        "offered": 2, "answered": 2, "abandoned": 0, "abandon_wait_s": None,
        "max_abandon_wait_s": None, "overflowed": 0, "answered_in_sl": 2,
        "service_level": 1.0, "asa_s": 17.5, "aht_s": 80.0, "avg_wrapup_s": 0.0,
        "transfers": 1, "no_answers": 1,
    }  # fmt: skip
    alice, bob = agents["alice"], agents["bob"]
    assert {k: alice[k] for k in AGENT_FIGURES} == {
        "offers": 5, "answered": 2, "rejected": 1, "no_answers": 2, "aht_s": 110.0,
        "avg_wrapup_s": 2.5, "transfers": 0, "available_s": 505.0, "away_s": 195.0,
        "offline_s": 2900.0, "occupancy": round(225 / 505, 4),
    }  # fmt: skip
    assert {k: bob[k] for k in AGENT_FIGURES} == {
        "offers": 1, "answered": 1, "rejected": 0, "no_answers": 0, "aht_s": 60.0,
        "avg_wrapup_s": 0.0, "transfers": 1, "available_s": 65.0, "away_s": 410.0,
        "offline_s": 2900.0, "occupancy": round(60 / 65, 4),
    }  # fmt: skip
    # The hook for checks on placed calls: the same figures for a set of sessions.
    calls = session_figures(engine, [sessions[0], sessions[2], sessions[3]])
    assert {k: calls["booking"][k] for k in FIGURES} == {k: booking[k] for k in FIGURES}
    assert session_figures(engine, [sessions[1]], by="channel")["chat"]["offered"] == 2


FIGURES = (
    "offered", "answered", "abandoned", "abandon_wait_s", "max_abandon_wait_s", "overflowed",
    "answered_in_sl", "service_level", "asa_s", "aht_s", "avg_wrapup_s", "transfers",
    "no_answers",
)  # fmt: skip
AGENT_FIGURES = (
    "offers", "answered", "rejected", "no_answers", "aht_s", "avg_wrapup_s", "transfers",
    "available_s", "away_s", "offline_s", "occupancy",
)  # fmt: skip
