"""The AMI bridge end to end: real SIP calls (sipp) on the sandbox Asterisk 22, the
dialplan `implus dialplan apply` generates, the router's worker on a real redis-server,
and the `implus ami-bridge` command."""

from __future__ import annotations

import pytest
from callcentre import CallCentre, wait_for

from devstack.lab import LabAgent, LabEntry
from router.model import OfferState, RequestState

pytestmark = pytest.mark.asterisk

ALICE = LabAgent("alice", "1001", 5081, {"billing": 1})
BOB = LabAgent("bob", "1002", 5082, {"booking": 1})
BOOKING = LabEntry("booking_en", "800", "booking")
BILLING = LabEntry("billing_en", "801", "billing")


def test_call_reaches_the_agent_with_the_skill(call_centre: CallCentre) -> None:
    cc = call_centre
    cc.lab.agents = [ALICE, BOB]
    cc.lab.entries = [BOOKING, BILLING]
    cc.start()
    with (
        cc.sipp.phone(ALICE.port, "answer", ring=0.2, calls=1) as alice,
        cc.sipp.phone(BOB.port, "answer", ring=0.3, talk=1.5, calls=1) as bob,
    ):
        cc.qualify("1001", "1002")
        cc.desktop_online("alice", "bob")
        cc.wait_phone("alice", "available")
        cc.wait_phone("bob", "available")
        customer = cc.sipp.customer_call("800", caller="5550101", hold=None, max_seconds=30)
        result = customer.wait(30)
        bob_result = bob.wait(20)
    assert result.ok, result.describe()
    assert bob_result.ok, bob_result.describe() + cc.explain()
    assert bob_result.count("INVITE", "received") == 1
    assert alice.result().count("INVITE", "received") == 0  # billing only: never rung
    request = cc.request_for("5550101")
    cc.wait_request(request.id, RequestState.CLOSED)
    cc.wait_owner(request.session_id, "bob")
    types = wait_for(
        "the caller's hang-up in the transcript",
        lambda: (t := cc.transcript_types(request.session_id)) and "call.hangup" in t and t,
    )
    for needed in ("call.ringing", "call.answered", "call.bridged", "assigned"):
        assert needed in types, (types, cc.explain())
    answered = cc.entries(request.session_id, "call.answered")
    assert [(e["party"], e.get("agent", "")) for e in answered] == [
        ("customer", ""),  # by the entry point
        ("agent", "bob"),
    ]
    assert answered[0]["entry"] == "booking_en"
    assert answered[0]["number"] == "5550101"
    assert {e["pbx"] for e in answered} == {"sandbox"}
    bridged = cc.entries(request.session_id, "call.bridged")[0]
    assert bridged["agent_leg"] == answered[1]["leg"]
    hangups = cc.entries(request.session_id, "call.hangup")
    # bob's BYE ended it (his HangupRequest came first); the caller followed. The two
    # Hangup events come in either order.
    assert {(h["party"], h["ended_by"]) for h in hangups} == {
        ("agent", "agent"),
        ("customer", "agent"),
    }
    hangup = next(h for h in hangups if h["party"] == "customer")
    assert hangup["cause"] == "NORMAL_CLEARING"
    assert 1.0 <= hangup["talk_s"] < 10
    assert hangup["duration_s"] >= hangup["talk_s"]


@pytest.mark.parametrize("behaviour", ["no_answer", "busy"])
def test_agent_a_does_not_answer_agent_b_gets_the_call(
    call_centre: CallCentre, behaviour: str
) -> None:
    cc = call_centre
    first = LabAgent("alice", "1001", 5081, {"booking": 5})  # highest skill: rung first
    second = LabAgent("bob", "1002", 5082, {"booking": 1})
    cc.lab.agents = [first, second]
    cc.lab.entries = [BOOKING]
    cc.start(offer_timeout=3)
    with (
        cc.sipp.phone(first.port, behaviour, calls=1) as alice,
        cc.sipp.phone(second.port, "answer", ring=0.2, talk=1.0, calls=1) as bob,
    ):
        cc.qualify("1001", "1002")
        cc.desktop_online("alice", "bob")
        cc.wait_phone("alice", "available")
        cc.wait_phone("bob", "available")
        customer = cc.sipp.customer_call("800", caller="5550102", hold=None, max_seconds=30)
        result = customer.wait(30)
        bob_result = bob.wait(20)
        request = cc.request_for("5550102")
        rung = [e["agent"] for e in cc.entries(request.session_id, "call.ringing")]
        assert rung == ["alice", "bob"], cc.explain()
        alice_result = alice.wait(20)
    assert result.ok, result.describe() + cc.explain()
    assert alice_result.count("INVITE", "received") == 1, alice_result.describe()
    assert bob_result.count("INVITE", "received") == 1, bob_result.describe() + cc.explain()
    if behaviour == "no_answer":
        assert alice_result.count("CANCEL", "received") == 1  # Asterisk stopped ringing
    cc.wait_owner(request.session_id, "bob")
    hangups = cc.entries(request.session_id, "call.hangup")
    missed = [e for e in hangups if e["party"] == "agent" and "reason" in e]
    assert [(e["agent"], e["reason"]) for e in missed] == [("alice", behaviour)], cc.explain()
    # The router heard why: no answer counts as a miss, busy does not.
    alice_state = cc.client.agent("alice")
    assert alice_state is not None
    assert alice_state.no_answer == (0 if behaviour == "busy" else 1)


def test_caller_abandons_while_waiting_and_while_ringing(call_centre: CallCentre) -> None:
    cc = call_centre
    cc.lab.agents = [BOB]
    cc.lab.entries = [BOOKING]
    cc.start(offer_timeout=20)
    # 1. Nobody is available: the caller waits on hold and gives up after 2 s.
    waiting = cc.sipp.customer_call("800", caller="5550103", hold=2.0, max_seconds=20)
    assert waiting.wait(20).ok
    request = cc.request_for("5550103")
    cc.wait_request(request.id, RequestState.ABANDONED)
    hangup = wait_for(
        "the hang-up in the transcript",
        lambda: cc.entries(request.session_id, "call.hangup"),
    )[-1]
    # a BYE without a Reason header: Asterisk's cause 0
    assert (hangup["party"], hangup["state"], hangup["cause"]) == ("customer", "waiting", "UNKNOWN")
    assert hangup["ended_by"] == "customer"
    assert 1.5 <= hangup["duration_s"] < 10
    assert "abandoned" in cc.transcript_types(request.session_id)

    # 2. Bob's phone rings and rings; the caller hangs up meanwhile: the ringing stops.
    with cc.sipp.phone(BOB.port, "no_answer", calls=1) as bob:
        cc.qualify("1002")
        cc.desktop_online("bob")
        cc.wait_phone("bob", "available")
        ringing = cc.sipp.customer_call("800", caller="5550104", hold=3.0, max_seconds=20)
        assert ringing.wait(20).ok
        bob_result = bob.wait(20)
    assert bob_result.count("INVITE", "received") == 1
    assert bob_result.count("CANCEL", "received") == 1, bob_result.describe()
    request = cc.request_for("5550104")
    cc.wait_request(request.id, RequestState.ABANDONED)
    abandoned = cc.client.request(request.id)
    assert abandoned is not None
    offer = cc.client.offer(abandoned.offer)
    assert offer is not None
    assert offer.state is OfferState.RESCINDED
    wait_for("bob to be free again", lambda: cc.voice_load("bob") == 0)


def test_chat_then_call_same_session_same_agent(call_centre: CallCentre) -> None:
    cc = call_centre
    expert = LabAgent("alice", "1001", 5081, {"booking": 5})  # would win without stickiness
    cc.lab.agents = [expert, BOB]
    cc.lab.entries = [BOOKING]
    cc.start()
    with (
        cc.sipp.phone(expert.port, "answer", calls=1) as alice,
        cc.sipp.phone(BOB.port, "answer", ring=0.2, talk=1.0, calls=1) as bob,
    ):
        cc.qualify("1001", "1002")
        cc.desktop_online("bob")
        chat = cc.client.submit(channel="chat", service="booking", user_id="5550105")
        offer = wait_for("a chat offer to bob", lambda: cc.client.agent_offers("bob"))[0]
        assert cc.client.accept(offer.id, "bob").ok
        cc.desktop_online("alice")
        cc.wait_phone("alice", "available")
        cc.wait_phone("bob", "available")
        customer = cc.sipp.customer_call("800", caller="5550105", hold=None, max_seconds=30)
        assert customer.wait(30).ok
        bob_result = bob.wait(20)
    assert bob_result.count("INVITE", "received") == 1, bob_result.describe() + cc.explain()
    assert alice.result().count("INVITE", "received") == 0
    call = cc.request_for("5550105")
    assert call.session_id == chat.session_id  # one session for chat and call
    assert call.owner == "bob"  # filed as the session's known agent
    cc.wait_request(call.id, RequestState.CLOSED)
    types = cc.transcript_types(chat.session_id)
    assert types.index("call.answered") > types.index("assigned")  # the chat came first
    assert "call.bridged" in types
    chat_request = cc.client.request(chat.request_id)
    assert chat_request is not None
    assert chat_request.state is RequestState.ACCEPTED  # the chat goes on


def test_callback_and_click_to_call_reach_the_customer(call_centre: CallCentre) -> None:
    cc = call_centre
    cc.lab.agents = [BOB]
    cc.lab.entries = [BOOKING]
    cc.start()
    with (
        cc.sipp.phone(BOB.port, "answer", ring=0.2, calls=2) as bob,
        cc.sipp.customer_phone("answer", ring=0.3, talk=1.0, calls=2) as customer,
    ):
        cc.qualify("1002")
        cc.desktop_online("bob")
        cc.wait_phone("bob", "available")
        # The widget's "call me": a routed voice request with a number to call back.
        me = cc.client.submit(
            channel="voice", service="booking", user_id="u-callback", callback_number="5550177"
        )
        cc.wait_request(me.request_id, RequestState.CLOSED, timeout=20)
        # The desktop's click-to-call, in the same session.
        cc.client.click_to_call(me.session_id, "bob", "+15550178")
        customer_result = customer.wait(30)
        bob_result = bob.wait(20)
    assert customer_result.ok, customer_result.describe() + cc.explain()
    assert bob_result.ok, bob_result.describe()
    invites = [m.first_line for m in customer_result.messages if m.method == "INVITE"]
    assert [i.split()[1].split("@")[0] for i in invites] == ["sip:5550177", "sip:+15550178"]
    entries = wait_for(
        "both calls' hang-ups in the transcript",
        lambda: (
            (e := [x for x in cc.client.transcript(me.session_id) if x["type"].startswith("call.")])
            and sum(x["type"] == "call.hangup" for x in e) >= 4
            and e
        ),
    )
    legs = [(e["type"], e.get("party", "")) for e in entries if e["type"] != "call.requested"]
    one_call = [
        ("call.ringing", "agent"),
        ("call.answered", "agent"),
        ("call.ringing", "customer"),
        ("call.answered", "customer"),
        ("call.bridged", ""),
        ("call.hangup", "customer"),
        ("call.hangup", "agent"),
    ]
    assert legs == one_call + one_call, cc.explain()
    hangups = [e for e in entries if e["type"] == "call.hangup" and e["party"] == "customer"]
    assert all(0.8 <= h["duration_s"] < 5 for h in hangups), hangups
    assert {e["call_id"] for e in entries if e["type"] == "call.bridged"} == {
        e["call_id"] for e in entries if e["type"] == "call.ringing"
    }
    assert "call.requested" in cc.transcript_types(me.session_id)  # click-to-call's request
