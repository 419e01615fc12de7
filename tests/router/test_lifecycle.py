"""The routing lifecycle on a real redis-server with an in-process worker."""

from __future__ import annotations

import json

import pytest

from router.errors import InvalidInput
from router.model import RequestState

BOOKING = """
defaults: {queue: general, offer_timeout: 20, reject_delay: 10, max_no_answer: 2,
           wrapup: {voice: 5, chat: 0}, known_agent_wait: 30}
queues:
  general: {}
  booking: {skills: {booking: 1}}
  billing: {skills: {billing: 1}}
rules:
  - name: booking
    conditions: service == "booking"
    actions: {queue: booking, skills: {booking: 2}}
    goals:
      - {after: 60, skills: {booking: 1}}
      - {after: 300, overflow: voicemail}
  - name: billing
    conditions: service == "billing"
    actions: {queue: billing}
"""


def test_chat_lifecycle(router):
    c = router.client
    c.load_strategy(BOOKING)
    router.agent("alice", skills={"booking": 3})
    sub = c.submit("chat", "booking", "u1", customer={"language": "en"})
    router.drain()
    req = c.request(sub.request_id)
    assert req.state is RequestState.OFFERED and req.agent == "alice"
    assert c.agent("alice").load == {"chat": 1}
    [offer] = router.offers_for("alice")
    assert c.accept(offer, "alice")
    assert c.request(sub.request_id).state is RequestState.ACCEPTED
    assert c.session(sub.session_id).owner == "alice"
    assert c.agent_contacts("alice")[0].id == sub.request_id
    assert c.complete(sub.request_id, "solved")
    assert c.request(sub.request_id).state is RequestState.CLOSED
    assert c.agent("alice").load == {"chat": 0}
    types = [e.type for e in router.events() if e.get("request") == sub.request_id]
    assert types == [
        "request.created",
        "request.queued",
        "offer.created",
        "offer.accepted",
        "contact.ended",
    ] or types == ["request.created", "offer.created", "offer.accepted", "contact.ended"]
    timeline = [e["type"] for e in c.transcript(sub.session_id)]
    assert timeline == ["request", "assigned"]
    trace = c.explain(sub.request_id)
    assert trace[-1]["rule"] == "booking" and trace[-1]["chosen"] == "alice"


def test_accept_is_checked(router):
    router.agent("alice")
    sub = router.client.submit("chat", "general", "u1")
    router.drain()
    [offer] = router.offers_for("alice")
    assert router.client.accept(offer, "bob").reason == "the offer was made to another agent"
    assert router.client.accept("nope").reason == "unknown offer"
    assert router.client.accept(offer)
    # the same accept again (a retry after a lost reply, say after a failover) is a success
    again = router.client.accept(offer, "alice")
    assert again and again.request_id == sub.request_id
    assert router.client.request(sub.request_id).state is RequestState.ACCEPTED
    assert router.client.agent("alice").busy == 1  # counted once
    router.client.complete(sub.request_id)
    late = router.client.accept(offer)
    assert not late and late.reason == "offer accepted"


def test_skills_decide_and_goals_widen(router):
    c = router.client
    c.load_strategy(BOOKING)
    router.agent("junior", skills={"booking": 1})
    sub = c.submit("chat", "booking", "u1")
    router.drain()
    req = c.request(sub.request_id)
    assert req.state is RequestState.QUEUED and req.queues == ("booking",)
    router.clock.advance(61)
    router.drain()
    req = c.request(sub.request_id)
    assert req.state is RequestState.OFFERED and req.agent == "junior"
    assert c.explain(sub.request_id)[-1]["step"] == 1


def test_goal_overflow_of_a_call(router):
    c = router.client
    c.load_strategy(BOOKING)
    sub = c.submit("voice", "booking", "u1", pbx="ast1", call_id="1700.1")
    router.drain()
    router.clock.advance(301)
    router.drain()
    assert c.request(sub.request_id).state is RequestState.OVERFLOWED
    [ev] = router.events("request.overflowed")
    assert ev.get("destination") == "voicemail"
    cmds = c.redis.xrange(c.keys.pbx_commands("ast1"))
    assert next(f for _, f in cmds if f["type"] == "overflow")["call_id"] == "1700.1"


def test_max_wait_overflow_of_a_call_and_of_its_transfer(router):
    c = router.client
    c.load_strategy(BOOKING)
    router.agent("a", skills={"booking": 3})
    sub = c.submit("voice", "booking", "u1", pbx="ast1", call_id="1700.1", max_wait=20)
    router.drain()
    c.accept(c.request(sub.request_id).offer)
    moved = c.transfer(sub.request_id, queue="billing")  # back on hold, nobody can take it
    router.drain()
    assert c.request(moved.request_id).max_wait == 20  # counted again from the transfer
    router.clock.advance(19.9)
    router.drain()
    assert c.request(moved.request_id).state is RequestState.QUEUED
    router.clock.advance(0.2)
    router.drain()
    over = c.request(moved.request_id)
    assert over.state is RequestState.OVERFLOWED
    reason = c.redis.hget(c.keys.request(moved.request_id), "end_reason")
    assert reason == "waited the entry point's max wait (20s)"
    [ev] = router.events("request.overflowed")
    assert ev.get("destination") == ""  # the bridge sends it to the entry point's overflow
    cmds = c.redis.xrange(c.keys.pbx_commands("ast1"))
    assert next(f for _, f in cmds if f["type"] == "overflow")["call_id"] == "1700.1"


@pytest.mark.parametrize("bad", [-1, 86401])
def test_max_wait_out_of_range_is_refused(router, bad):
    with pytest.raises(InvalidInput, match="max wait"):
        router.client.submit("voice", "booking", "u1", pbx="ast1", call_id="1.1", max_wait=bad)


def test_offer_timeout_goes_to_next_agent_and_missed_offers_set_away(router):
    c = router.client
    c.load_strategy(BOOKING)  # max_no_answer: 2
    router.agent("a")
    router.agent("b")
    first = c.submit("chat", "general", "u1")
    router.drain()
    offered_to = c.request(first.request_id).agent
    other = "b" if offered_to == "a" else "a"
    router.clock.advance(21)
    router.drain()
    req = c.request(first.request_id)
    assert req.state is RequestState.OFFERED and req.agent == other
    assert router.events("offer.timeout")[0].get("agent") == offered_to
    # the other agent misses too; the first is offered again (its 10 s delay has passed)
    router.clock.advance(21)
    router.drain()
    assert c.request(first.request_id).agent == offered_to
    router.clock.advance(21)  # second miss: away (max_no_answer 2)
    router.drain()
    assert c.agent(offered_to).status.value == "away" and c.agent(offered_to).reason == "no-answer"
    assert c.request(first.request_id).agent == other
    router.clock.advance(21)
    router.drain()
    assert c.agent(other).status.value == "away"
    assert c.request(first.request_id).state is RequestState.QUEUED
    assert len(router.events("offer.timeout")) == 4


def test_reject_goes_to_next_and_delays_the_same_agent(router):
    c = router.client
    router.agent("a")
    sub = c.submit("chat", "general", "u1")
    router.drain()
    [offer] = router.offers_for("a")
    assert c.reject(offer, "a")
    router.drain()
    assert c.request(sub.request_id).state is RequestState.QUEUED
    assert "declined" in json.dumps(c.explain(sub.request_id)[-1])
    router.clock.advance(11)
    router.agent("b")  # any agent event wakes the queue; a is eligible again too
    router.drain()
    assert c.request(sub.request_id).state is RequestState.OFFERED


def test_abandon_while_waiting_and_while_offered(router):
    c = router.client
    waiting = c.submit("chat", "general", "u1")
    router.drain()
    assert c.cancel(waiting.request_id, "caller hung up")
    assert c.request(waiting.request_id).state is RequestState.ABANDONED
    assert c.redis.zcard(c.keys.queue("general", "chat")) == 0
    router.agent("a", chat=1)
    offered = c.submit("chat", "general", "u2")
    router.drain()
    assert c.request(offered.request_id).state is RequestState.OFFERED
    assert c.cancel(offered.request_id)
    assert c.agent("a").load == {"chat": 0}
    assert router.events("offer.rescinded")
    assert not c.cancel(offered.request_id)  # already gone


def test_capacity_per_channel_and_voice_blocks_chat(router):
    c = router.client
    router.agent("a", chat=2, voice=1)
    subs = [c.submit("chat", "general", f"u{i}") for i in range(3)]
    router.drain()
    states = [c.request(s.request_id).state for s in subs]
    assert states.count(RequestState.OFFERED) == 2 and states.count(RequestState.QUEUED) == 1
    # a call still fits (voice has its own slot), then blocks new chats
    call = c.submit("voice", "general", "caller")
    router.drain()
    assert c.request(call.request_id).state is RequestState.OFFERED
    for oid in router.offers_for("a"):
        c.accept(oid)
    first_chat = next(s for s in subs if c.request(s.request_id).state is RequestState.ACCEPTED)
    c.complete(first_chat.request_id)
    router.drain()
    waiting = next(s for s in subs if c.request(s.request_id).state is RequestState.QUEUED)
    assert c.request(waiting.request_id).state is RequestState.QUEUED  # voice blocks chat
    c.complete(call.request_id)
    router.clock.advance(11)  # voice wrap-up (10 s by default)
    router.drain()
    assert c.request(waiting.request_id).state is RequestState.OFFERED


def test_known_agent_routing(router):
    c = router.client
    router.agent("a")
    router.agent("b")
    first = c.submit("chat", "general", "u1")
    router.drain()
    owner = c.request(first.request_id).agent
    other = "b" if owner == "a" else "a"
    c.accept(router.offers_for(owner)[0])
    # the same customer calls: same session, same agent (voice slot is free)
    call = c.submit("voice", "general", "u1")
    assert call.joined_existing and call.session_id == first.session_id
    router.drain()
    assert c.request(call.request_id).agent == owner
    assert "known agent" in c.explain(call.request_id)[-1]["why"]
    # owner full on voice: a second call waits for them, then falls back after 20 s
    c.accept(router.offers_for(owner)[0])
    again = c.submit("voice", "general", "u1")
    router.drain()
    req = c.request(again.request_id)
    assert req.state is RequestState.QUEUED
    assert c.explain(again.request_id)[-1]["known_agent"] == owner
    router.clock.advance(21)
    router.drain()
    assert c.request(again.request_id).agent == other


def test_known_agent_offline_is_skipped(router):
    c = router.client
    router.agent("a")
    first = c.submit("chat", "general", "u1")
    router.drain()
    c.accept(router.offers_for("a")[0])
    c.complete(first.request_id)
    c.set_status("a", "offline")
    router.agent("b")
    again = c.submit("chat", "general", "u1")
    router.drain()
    assert c.request(again.request_id).agent == "b"


def test_known_agent_takes_pinned_request_when_free(router):
    c = router.client
    router.agent("a", chat=1)
    first = c.submit("chat", "general", "u1")
    router.drain()
    c.accept(router.offers_for("a")[0])
    second = c.submit("chat", "general", "u1")
    router.drain()
    assert c.request(second.request_id).state is RequestState.QUEUED
    c.complete(first.request_id)
    router.drain()
    assert c.request(second.request_id).agent == "a"


def test_strategy_reload_reaches_waiting_requests(router):
    c = router.client
    c.load_strategy(BOOKING)
    router.agent("biller", skills={"billing": 1})
    subs = [c.submit("chat", "booking", f"u{i}") for i in range(3)]
    router.drain()
    assert all(c.request(s.request_id).state is RequestState.QUEUED for s in subs)
    version = c.load_strategy(
        BOOKING.replace(
            "actions: {queue: booking, skills: {booking: 2}}", "actions: {queue: billing}"
        )
    )
    router.drain()
    states = [c.request(s.request_id) for s in subs]
    assert sum(r.state is RequestState.OFFERED for r in states) == 3
    assert all(c.explain(s.request_id)[-1]["strategy"] == version for s in subs)


def test_presence_lease_expiry_logs_agent_off_and_requeues_offers(router):
    c = router.client
    router.agent("a")
    c.heartbeat("a", ttl=5)
    sub = c.submit("chat", "general", "u1")
    router.drain()
    assert c.request(sub.request_id).agent == "a"
    router.clock.advance(6)
    router.drain()
    agent = c.agent("a")
    assert agent.status.value == "offline" and agent.reason == "desktop disconnected"
    assert c.request(sub.request_id).state is RequestState.QUEUED
    assert not c.set_status("a", "available")  # not without a desktop


def test_phone_lease_gates_calls_only(router):
    c = router.client
    router.agent("a", phone=False)
    call = c.submit("voice", "general", "caller")
    chat = c.submit("chat", "general", "chatter")
    router.drain()
    assert c.request(call.request_id).state is RequestState.QUEUED
    assert c.request(chat.request_id).state is RequestState.OFFERED
    c.heartbeat("a", "sip", ttl=60, device="available")
    router.drain()
    assert c.request(call.request_id).state is RequestState.OFFERED


def test_voice_offer_becomes_a_pbx_command(router):
    c = router.client
    router.agent("a", pbx="ast1", endpoint="1001")
    call = c.submit("voice", "general", "caller", pbx="ast1", call_id="1700.7")
    router.drain()
    [(_, cmd)] = c.redis.xrange(c.keys.pbx_commands("ast1"))
    assert cmd["type"] == "ring_agent" and cmd["call_id"] == "1700.7" and cmd["endpoint"] == "1001"
    assert cmd["request"] == call.request_id and int(cmd["timeout"]) == 20
    # the exact deadline too: the bridge rings until then, not for whole seconds
    assert int(cmd["deadline"]) == c.offer(cmd["offer"]).deadline
    assert c.offer_failed(cmd["offer"], "busy")
    cmds = [f["type"] for _, f in c.redis.xrange(c.keys.pbx_commands("ast1"))]
    assert cmds == ["ring_agent"]  # a failure reported by the PBX needs no cancel_ring
    router.clock.advance(21)
    router.drain()
    assert c.request(call.request_id).state is RequestState.OFFERED  # a again after the delay


def test_transfer_to_queue_and_session_close(router):
    c = router.client
    c.load_strategy(BOOKING)
    router.agent("booker", skills={"booking": 2})
    router.agent("biller", skills={"billing": 1})
    sub = c.submit("chat", "booking", "u1")
    router.drain()
    c.accept(router.offers_for("booker")[0])
    moved = c.transfer(sub.request_id, queue="billing", by="booker")
    assert moved and moved.request_id != sub.request_id
    assert c.agent("booker").load == {"chat": 0}
    router.drain()
    new = c.request(moved.request_id)
    assert new.agent == "biller" and new.session_id == sub.session_id
    c.accept(router.offers_for("biller")[0])
    assert c.session(sub.session_id).owner == "biller"
    assert c.close_session(sub.session_id, "solved", by="biller")
    assert c.request(moved.request_id).state is RequestState.CLOSED
    assert c.open_session("u1", "booking") is None
    router.clock.advance(1)
    later = c.submit("chat", "booking", "u1")
    assert not later.joined_existing and later.session_id != sub.session_id
    assert [s.id for s in c.history("u1")] == [later.session_id, sub.session_id]
    kinds = [e["type"] for e in c.transcript(sub.session_id)]
    assert kinds == ["request", "assigned", "transferred", "assigned", "closed"]


def test_submit_is_idempotent_and_validates(router):
    c = router.client
    a = c.submit("chat", "general", "u1", request_id="fixed-1")
    b = c.submit("chat", "general", "u1", request_id="fixed-1")
    assert a.session_id == b.session_id and a.request_id == b.request_id
    for bad in (
        {"channel": "fax"},
        {"user_id": ""},
        {"user_id": "a b"},
        {"priority": 1000},
        # a colon would let (user "a:b", service "c") share a key with ("a", "b:c")
        {"user_id": "a:b"},
    ):
        args = {"channel": "chat", "service": "general", "user_id": "u1", **bad}
        with pytest.raises(InvalidInput):
            c.submit(**args)


def test_transcript_append_is_deduplicated_and_replayable(router):
    c = router.client
    sub = c.submit("chat", "general", "u1")
    ids = [
        c.append(sub.session_id, {"type": "message", "text": f"m{i}"}, cmid=f"c{i}").entry_id
        for i in range(5)
    ]
    dup = c.append(sub.session_id, {"type": "message", "text": "m2"}, cmid="c2")
    assert dup.duplicate and dup.entry_id == ids[2]
    after = c.transcript(sub.session_id, after=ids[1])
    assert [e["text"] for e in after] == ["m2", "m3", "m4"]
    [ev] = [e for e in router.events("session.event") if e.get("entry") == ids[4]]
    assert json.loads(ev.get("data"))["text"] == "m4"


def test_transcript_entry_data_reads_back_as_json_wrote_it(router):
    """Entries are stored by orjson (`values.entry_json`): every value reads back as
    `json.dumps(..., sort_keys=True, default=str)` would have stored it - non-ASCII, a
    datetime and an object as their `str`, an integer beyond 64 bits (the `json` way)."""
    import datetime
    from decimal import Decimal

    c = router.client
    sub = c.submit("chat", "general", "u9")
    data = {"text": "Grüße \u2713 \"quoted\"", "n": [1, 2.5, None, True],
            "when": datetime.datetime(2026, 12, 7, 22, 0), "price": Decimal("1.10"),
            "nested": {"z": 1, "a": {"b": "c"}}}  # fmt: skip
    for entry in (data, {**data, "big": 2**70}):
        e = c.append(sub.session_id, {"type": "note", **entry})
        [back] = [x for x in c.transcript(sub.session_id) if x["id"] == e.entry_id]
        expected = json.loads(json.dumps(entry, sort_keys=True, default=str))
        assert {k: v for k, v in back.items() if k not in ("id", "type", "at")} == expected


def test_queue_stats_estimated_wait(router):
    c = router.client
    router.agent("a", chat=1)
    for i in range(4):
        s = c.submit("chat", "general", f"u{i}")
        router.drain()
        router.clock.advance(10)
        c.accept(router.offers_for("a")[0])
        c.complete(s.request_id)
    waiting = [c.submit("chat", "general", f"w{i}") for i in range(3)]
    router.drain()  # the first one is offered, two wait
    stats = {(q.queue, q.channel): q for q in c.queue_stats()}
    q = stats[("general", "chat")]
    assert q.waiting == 2 and q.answered >= 4
    assert q.estimated_wait_s is not None and q.estimated_wait_s > 0
    assert q.service_level == 1.0
    assert waiting
