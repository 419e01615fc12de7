"""Supervisor operations (router/supervision.py, force_status.lua, move_request.lua) on a real
redis-server with an in-process worker."""

from __future__ import annotations

import json

import pytest

from router.errors import InvalidInput
from router.model import AgentState, AgentStatus, RequestState
from router.supervision import Supervision, activity_of

STRATEGY = """
defaults: {queue: general, offer_timeout: 20, known_agent_wait: 30}
queues:
  general: {}
  booking: {skills: {booking: 1}}
  billing: {skills: {billing: 1}}
rules:
  - name: booking
    conditions: service == "booking"
    actions: {queue: booking}
"""


@pytest.fixture
def sup(router):
    router.client.load_strategy(STRATEGY)
    return Supervision(router.client)


def test_force_away_takes_back_ringing_offers_and_records_who(router, sup):
    c = router.client
    router.agent("ann", chat=1)
    sub = c.submit("chat", "general", "u1")
    router.drain()
    assert router.offers_for("ann")
    router.clock.advance(5)
    result = sup.force_status("ann", "away", "team meeting", by="boss")
    assert result and result.request_id == "available"  # the previous status
    state = c.agent("ann")
    assert state.status is AgentStatus.AWAY and state.reason == "team meeting"
    assert not router.offers_for("ann") and state.load == {"chat": 0}
    assert c.request(sub.request_id).state is RequestState.QUEUED  # waits again
    status = router.events("agent.status")[-1].fields
    assert (status["status"], status["reason"], status["by"]) == ("away", "team meeting", "boss")
    rescinded = router.events("offer.rescinded")[-1].fields
    assert rescinded["reason"] == "agent set away by a supervisor"
    assert c.redis.hget(c.keys.agent("ann"), "status_at") == str(router.clock.now)
    router.agent("bob")
    router.drain()
    assert c.request(sub.request_id).agent == "bob"
    # the agent's own status changes carry no `by`
    assert "by" not in router.events("agent.status")[-1].fields


def test_force_offline_and_what_is_refused(router, sup):
    c = router.client
    router.agent("ann")
    assert sup.force_status("ann", "offline", by="boss")
    assert c.agent("ann").status is AgentStatus.OFFLINE
    assert router.events("agent.status")[-1].get("by") == "boss"
    refused = sup.force_status("ghost", "away", "x", by="boss")
    assert not refused and refused.reason == "unknown agent"
    for args, words in (
        (("ann", "available", "", "boss"), "away or offline"),
        (("ann", "away", "  ", "boss"), "say why"),
        (("ann", "away", "x" * 201, "boss"), "200 characters"),
        (("ann", "offline", "", ""), "supervisor"),
        (("bad id", "offline", "", "boss"), "agent id"),
    ):
        with pytest.raises(InvalidInput, match=words):
            sup.force_status(*args)


def test_move_a_queued_request_to_another_queue(router, sup):
    c = router.client
    router.agent("biller", skills={"billing": 1}, available=False)
    sub = c.submit("chat", "booking", "u1")
    router.drain()
    assert c.request(sub.request_id).queues == ("booking",)
    router.clock.advance(40)
    assert sup.move_request(sub.request_id, queue="billing", by="boss").request_id == "queued"
    r = c.request(sub.request_id)
    assert r.queues == ("billing",) and r.force_queue == "billing" and r.forced_at
    assert c.redis.zrange(c.keys.queue("booking", "chat"), 0, -1) == []
    assert c.redis.zrange(c.keys.queue("billing", "chat"), 0, -1) == [sub.request_id]
    moved = router.events("request.moved")[-1].fields
    assert moved["queue"] == "billing" and moved["by"] == "boss"
    assert json.loads(moved["queues"]) == ["booking"] and moved["previous"] == "queued"
    entry = c.transcript(sub.session_id)[-1]
    assert (entry["type"], entry["queue"], entry["by"]) == ("moved", "billing", "boss")
    router.drain()  # the worker keeps it in billing (no rule sends it back to booking)
    assert c.request(sub.request_id).queues == ("billing",)
    assert c.set_status("biller", "available")
    router.drain()
    assert c.request(sub.request_id).agent == "biller"
    assert c.request(sub.request_id).created == r.created  # its wait counts on


def test_move_a_ringing_request_takes_the_offer_back(router, sup):
    c = router.client
    router.agent("ann", skills={"booking": 1})
    router.agent("biller", skills={"billing": 1}, available=False)
    sub = c.submit("chat", "booking", "u1")
    router.drain()
    offer = router.offers_for("ann")[0]
    assert sup.move_request(sub.request_id, queue="billing", by="boss").request_id == "offered"
    assert c.offer(offer).state.value == "rescinded" and c.agent("ann").load == {"chat": 0}
    assert not c.accept(offer, "ann")  # too late for ann
    router.drain()
    r = c.request(sub.request_id)
    assert r.state is RequestState.QUEUED and r.queues == ("billing",)


def test_move_to_an_agent_waits_for_them_from_the_move(router, sup):
    c = router.client
    router.agent("ann", chat=1)
    router.agent("bob", chat=1)
    first = c.submit("chat", "general", "u0")
    router.drain()
    busy = c.request(first.request_id).agent
    other = "bob" if busy == "ann" else "ann"
    c.accept(router.offers_for(busy)[0])
    assert c.set_status(other, "away", "lunch")
    sub = c.submit("chat", "general", "u1")
    router.drain()
    router.clock.advance(120)  # long past known_agent_wait (30 s) since it was filed
    assert sup.move_request(sub.request_id, agent_id=busy, by="boss")
    assert c.set_status(other, "available")
    router.drain()
    r = c.request(sub.request_id)
    assert r.state is RequestState.QUEUED, "the other agent took a contact moved to the busy one"
    assert c.explain(sub.request_id)[-1]["known_agent"] == busy
    c.complete(first.request_id)  # the named agent frees up and gets it
    router.drain()
    assert c.request(sub.request_id).agent == busy


def test_move_to_a_busy_agent_falls_back_after_the_wait(router, sup):
    c = router.client
    router.agent("ann", chat=1)
    c.submit("chat", "general", "u0")
    router.drain()
    c.accept(router.offers_for("ann")[0])
    sub = c.submit("chat", "general", "u1")
    router.drain()
    assert sup.move_request(sub.request_id, agent_id="ann", by="boss")
    router.agent("bob")
    router.drain()
    assert c.request(sub.request_id).state is RequestState.QUEUED
    router.clock.advance(31)
    router.drain()
    assert c.request(sub.request_id).agent == "bob"


def test_move_is_refused_once_answered_or_to_an_absent_agent(router, sup):
    c = router.client
    router.agent("ann")
    router.agent("off", available=False)
    c.set_status("off", "offline")
    sub = c.submit("chat", "general", "u1")
    router.drain()
    queued = c.submit("chat", "general", "u2")
    c.set_status("ann", "away", "x")
    router.drain()
    assert c.request(queued.request_id).state is RequestState.QUEUED
    c.accept(router.offers_for("ann")[0])
    refused = sup.move_request(sub.request_id, queue="billing", by="boss")
    assert not refused and "only a waiting contact" in refused.reason
    refused = sup.move_request(queued.request_id, agent_id="off", by="boss")
    assert not refused and refused.reason == "agent off is not logged in"
    refused = sup.move_request(queued.request_id, agent_id="ghost", by="boss")
    assert not refused and refused.reason == "unknown agent ghost"
    refused = sup.move_request("nope", queue="billing", by="boss")
    assert not refused and refused.reason == "unknown request"
    for kwargs, words in (
        ({"queue": "nowhere", "by": "boss"}, "no queue 'nowhere'"),
        ({"queue": "billing", "agent_id": "ann", "by": "boss"}, "exactly one"),
        ({"by": "boss"}, "exactly one"),
        ({"queue": "billing"}, "supervisor"),
    ):
        with pytest.raises(InvalidInput, match=words):
            sup.move_request(queued.request_id, **kwargs)
    assert not router.events("request.moved")
    assert c.request(queued.request_id).queues == ("general",)


def test_waiting_contacts_lists_queued_then_ringing(router, sup):
    c = router.client
    router.agent("ann", chat=1)
    ringing = c.submit("chat", "general", "u1")
    router.drain()
    router.clock.advance(1)
    waiting = c.submit("chat", "general", "u2")
    router.drain()
    rows = sup.waiting_contacts("general", "chat", agents=["ann"])
    assert [(w.request.id, w.offered_to) for w in rows] == [
        (waiting.request_id, ""),
        (ringing.request_id, "ann"),
    ]
    assert sup.waiting_contacts("general", "voice", agents=["ann"]) == []
    with pytest.raises(InvalidInput, match="channel"):
        sup.waiting_contacts("general", "fax")


def test_agent_activities_with_time_in_state(router, sup):
    c = router.client
    t0 = router.clock.now
    router.agent("ann")
    router.agent("bob")
    router.agent("cat")
    router.agent("dan", available=False)
    c.set_status("cat", "away", "coffee")
    sub = c.submit("chat", "general", "u1")
    router.drain()
    owner = c.request(sub.request_id).agent
    router.clock.advance(3)
    c.accept(router.offers_for(owner)[0])
    router.clock.advance(2)
    rows = {a.agent.id: a for a in sup.agent_activities()}
    free = ({"ann", "bob"} - {owner}).pop()
    assert rows[owner].activity == "busy" and rows[owner].since == t0 + 3000
    assert rows[owner].contacts == 1
    assert rows[free].activity == "idle" and rows[free].since == t0
    assert rows["cat"].activity == "away" and rows["cat"].since == t0
    assert rows["dan"].activity == "offline"


@pytest.mark.parametrize(
    ("fields", "now", "want"),
    [
        ({"status": "available", "lease:desktop": "50"}, 100, ("offline", 7)),
        ({"status": "offline", "lease:desktop": "500"}, 100, ("offline", 7)),
        ({"status": "away", "lease:desktop": "500"}, 100, ("away", 7)),
        ({"status": "available", "lease:desktop": "500"}, 100, ("busy", 9)),
        ({"status": "available", "lease:desktop": "500", "last_offer": "8"}, 100, ("ringing", 8)),
        (
            {"status": "available", "lease:desktop": "500", "wrapup_until": "200"},
            100,
            ("wrap-up", 0),
        ),
        ({"status": "available", "lease:desktop": "500", "idle_since": "3"}, 100, ("idle", 7)),
        ({"status": "available", "lease:desktop": "500", "idle_since": "30"}, 100, ("idle", 30)),
    ],
)
def test_activity_of(fields, now, want):
    agent = AgentState.from_hash({"id": "a", **fields})
    contacts = 1 if want[0] == "busy" else 0
    offers = 1 if want[0] == "ringing" else 0
    got = activity_of(agent, now, status_at=7, contacts_since=9, contacts=contacts, offers=offers)
    assert (got.activity, got.since) == want
