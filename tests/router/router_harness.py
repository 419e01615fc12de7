"""The router under test on a real redis-server: a hand-driven clock, a client and an
in-process allocation worker the test steps until no work is left; and a scripted day of
routing that runs every Lua script (the key-declaration and Redis Cluster tests replay it).

A module with its own name (not `conftest`): the tests import it directly.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from router.client import RouterClient
from router.control import call_control, handover, supervise
from router.model import AgentProfile, Event, RequestState
from router.supervision import Supervision
from router.worker import Worker, WorkerSettings

T0 = 1_800_000_000_000


class Clock:
    """Milliseconds the test controls; scripts and decisions both read it."""

    def __init__(self, start: int = T0) -> None:
        self.now = start

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * 1000)


@dataclass
class Router:
    client: RouterClient
    worker: Worker
    clock: Clock

    def drain(self, rounds: int = 50) -> None:
        """Step the worker until a few rounds find no work."""
        idle = 0
        for _ in range(rounds):
            if self.worker.step(block_ms=1) == 0:
                idle += 1
                if idle >= 2:
                    return
            else:
                idle = 0

    def agent(
        self,
        aid: str,
        *,
        skills: dict[str, int] | None = None,
        voice: int = 1,
        chat: int = 3,
        available: bool = True,
        phone: bool = True,
        **kw: object,
    ) -> None:
        self.client.upsert_agent(
            AgentProfile(
                id=aid,
                name=aid.title(),
                skills=skills or {},
                capacity={"voice": voice, "chat": chat},
                **kw,
            )
        )  # type: ignore[arg-type]
        self.client.heartbeat(aid, ttl=3600)
        if phone:
            self.client.heartbeat(aid, "sip", ttl=3600, device="available")
        if available:
            assert self.client.set_status(aid, "available")

    def events(self, etype: str | None = None) -> list[Event]:
        out = self.client.read_events("0-0", None, 100_000)
        return [e for e in out if etype is None or e.type == etype]

    def offers_for(self, aid: str) -> list[str]:
        return [o.id for o in self.client.agent_offers(aid)]


QUIET = WorkerSettings(block_ms=1, timer_interval_ms=0, reaper_interval_ms=0, claim_idle_ms=60_000)
"""Worker settings for stepped tests: timers and the reaper run every round."""

CALM = dataclasses.replace(
    QUIET,
    timer_interval_ms=600_000,
    reaper_interval_ms=600_000,
    sweep_interval_s=600.0,
    housekeeping_interval_s=600.0,
)
"""No chore is due after the first round: the rounds measured do only their work."""


def make_router(client: RouterClient, clock: Clock) -> Router:
    """A started in-process worker on ``client``."""
    worker = Worker(client, name="test-worker", settings=QUIET)
    worker.start()
    return Router(client, worker, clock)


DAY_STRATEGY = """
defaults: {queue: general, offer_timeout: 20, reject_delay: 60, max_no_answer: 5,
           wrapup: {voice: 5, chat: 0, voip: 5}, known_agent_wait: 30}
queues: {general: {}, sales: {skills: {sales: 1}}}
rules:
  - name: sales
    conditions: service == "sales"
    actions: {queue: sales}
    goals: [{after: 60, overflow: voicemail}]
  - name: rest
    actions: {queue: general}
"""

PBX_COMMANDS = (
    "ring_agent", "cancel_ring", "callback", "click_to_call", "overflow", "hold",
    "call_control", "supervise",
)  # fmt: skip


def scripted_day(r: Router) -> None:
    """A day of routing that runs every Lua script and most of their branches: chats with a
    returning customer pinned to their agent, a call that times out, is answered and
    transferred, a callback the phone refuses, an overflow, transfers, closed sessions,
    click-to-call, expired leases and a removed agent.

    Free-text arguments (``by``) never equal an id here, so the key-declaration check
    (test_script_keys) can tell keys named from a call's arguments by their values."""
    c = r.client
    c.load_strategy(DAY_STRATEGY)
    r.agent("alice", voice=1, chat=1, pbx="ast1", endpoint="1001")
    r.agent("bob", voice=1, chat=1, pbx="ast1", endpoint="1002")

    # chat; the same customer again while their agent is busy waits pinned to that agent,
    # who takes it once free; it is rejected, waits for that agent a while, is offered to the
    # other agent, then abandoned
    first = c.submit("chat", "general", "carol")
    r.drain()
    owner = _offered(r, first.request_id)
    assert c.accept(c.request(first.request_id).offer, owner)
    other = "bob" if owner == "alice" else "alice"
    assert c.set_status(other, "away", "lunch")  # nobody else is free
    again = c.submit("chat", "general", "carol")
    r.drain()
    assert c.redis.zscore(c.keys.pinned(owner), again.request_id) is not None
    assert c.complete(first.request_id, "solved")
    r.drain()
    assert _offered(r, again.request_id) == owner
    assert c.set_status(other, "available")
    assert c.reject(c.request(again.request_id).offer, owner)
    r.drain()
    r.clock.advance(31)  # the known agent's turn is over
    r.drain()
    assert _offered(r, again.request_id) != owner
    assert c.cancel(again.request_id, "widget closed")

    # a call: the first agent does not answer in time, the second does and transfers it
    call = c.submit("voice", "general", "dave", pbx="ast1", call_id="call-1")
    r.drain()
    missed = _offered(r, call.request_id)
    r.clock.advance(21)
    r.drain()
    taker = _offered(r, call.request_id)
    assert taker != missed
    assert c.accept(c.request(call.request_id).offer, taker)
    moved = c.transfer(call.request_id, queue="general", by="desk-" + taker)
    assert moved
    r.drain()
    assert c.accept(c.request(moved.request_id).offer)
    assert c.complete(moved.request_id, "done")
    r.clock.advance(6)  # wrap-up ends
    r.drain()

    # call control on a live call, a supervisor listening in, the call handed over to the
    # other agent (an attended transfer); a supervisor moves a waiting chat and forces an
    # agent away
    live = c.submit("voice", "general", "ivan", pbx="ast1", call_id="call-3")
    r.drain()
    first_agent = _offered(r, live.request_id)
    assert c.accept(c.request(live.request_id).offer, first_agent)
    assert c.run(call_control(c.ops, live.session_id, "hold", first_agent)).ok
    assert c.run(supervise(c.ops, live.session_id, "sup-one", "listen")).ok
    second = "bob" if first_agent == "alice" else "alice"
    handed = c.run(handover(c.ops, live.request_id, second, by="desk-" + first_agent))
    assert handed.ok
    assert c.complete(handed.request_id, "done")
    r.clock.advance(6)  # wrap-up ends
    r.drain()
    waiting = c.submit("chat", "sales", "judy")
    r.drain()
    supervision = Supervision(c)
    assert supervision.move_request(waiting.request_id, queue="general", by="sup-one").ok
    r.drain()
    assert c.accept(c.request(waiting.request_id).offer, _offered(r, waiting.request_id))
    assert c.complete(waiting.request_id, "done")
    assert supervision.force_status(second, "away", "meeting", by="sup-one").ok
    assert c.set_status(second, "available")
    r.drain()

    # a callback the agent's phone refuses; the session is closed while it is offered again
    back = c.submit("voice", "general", "erin", pbx="ast1", callback_number="+15550100")
    r.drain()
    assert c.offer_failed(c.request(back.request_id).offer, "busy")
    r.drain()
    assert c.close_session(back.session_id, "callback cancelled", by="erin-admin")

    # nobody has the sales skill: a call overflows; a waiting chat is moved to another queue
    lost = c.submit("voice", "sales", "frank", pbx="ast1", call_id="call-2")
    chat = c.submit("chat", "sales", "gina")
    r.drain()
    assert c.transfer(chat.request_id, queue="general", by="supervisor")
    r.clock.advance(61)
    r.drain()
    assert c.request(lost.request_id).state is RequestState.OVERFLOWED
    assert c.accept(c.request(chat.request_id).offer, _offered(r, chat.request_id))

    # the transcript, click-to-call, and closing a session with a contact in progress
    assert not c.append(chat.session_id, {"type": "message", "text": "hi"}, cmid="m1").duplicate
    assert c.append(chat.session_id, {"type": "message", "text": "hi"}, cmid="m1").duplicate
    assert c.click_to_call(chat.session_id, "alice", "+15550101")
    assert c.close_session(chat.session_id, "solved", by="desk-alice")

    # an offer pending when the desktop and phone leases run out; bob is removed
    late = c.submit("chat", "general", "hank")
    r.drain()
    assert c.request(late.request_id).state is RequestState.OFFERED
    r.clock.advance(3601)
    r.drain()
    assert c.agent("alice").status.value == "offline"
    assert c.remove_agent("bob")
    assert c.close_if_idle(first.session_id, r.clock() + 1)
    kinds = {f["type"] for _, f in c.redis.xrange(c.keys.pbx_commands("ast1"))}
    assert kinds == set(PBX_COMMANDS), kinds


def _offered(r: Router, request_id: str) -> str:
    request = r.client.request(request_id)
    assert request is not None and request.state is RequestState.OFFERED, request
    return request.agent


def offered_to(r: Router, ids: list[str]) -> list[str]:
    """Per request id: the agent it is offered to, or "" while it is not offered."""
    out = []
    for rid in ids:
        req = r.client.request(rid)
        assert req is not None
        out.append(req.agent if req.state is RequestState.OFFERED else "")
    return out
