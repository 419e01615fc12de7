"""The AMI bridge end to end: real SIP calls (sipp) on the sandbox Asterisk 22, the
dialplan `implus dialplan apply` generates, the router's worker on a real redis-server,
and the `implus ami-bridge` command."""

from __future__ import annotations

import pytest
from callcentre import CallCentre, wait_for

from ami_bridge.sandbox.lab import LabAgent, LabEntry
from router.model import RequestState

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
    wait_for(
        "the contact to complete",
        lambda: cc.client.request(request.id).state is RequestState.CLOSED,  # type: ignore[union-attr]
    )
    session = cc.client.session(request.session_id)
    assert session is not None and session.owner == "bob"
    types = wait_for(
        "the caller's hang-up in the transcript",
        lambda: (t := cc.transcript_types(request.session_id)) and "call.hangup" in t and t,
    )
    for needed in ("call.arrived", "call.ringing", "call.answered", "call.bridged", "assigned"):
        assert needed in types, (types, cc.explain())
    hangup = cc.entries(request.session_id, "call.hangup")[-1]
    assert hangup["party"] == "customer"
    assert hangup["cause"] == 16  # the agent's BYE ends the bridge; Bridge(x) hangs up
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
        cc.sipp.phone(first.port, behaviour, calls=1) as alice,  # type: ignore[arg-type]
        cc.sipp.phone(second.port, "answer", ring=0.2, talk=1.0, calls=1) as bob,
    ):
        cc.qualify("1001", "1002")
        cc.desktop_online("alice", "bob")
        cc.wait_phone("alice", "available")
        cc.wait_phone("bob", "available")
        customer = cc.sipp.customer_call("800", caller="5550102", hold=None, max_seconds=30)
        result = customer.wait(30)
        bob_result = bob.wait(20)
        alice_result = alice.wait(20)
    assert result.ok, result.describe() + cc.explain()
    assert alice_result.count("INVITE", "received") == 1, alice_result.describe()
    assert bob_result.count("INVITE", "received") == 1, bob_result.describe() + cc.explain()
    if behaviour == "no_answer":
        assert alice_result.count("CANCEL", "received") == 1  # Asterisk stopped ringing
    request = cc.request_for("5550102")
    session = wait_for(
        "bob to own the session",
        lambda: (s := cc.client.session(request.session_id)) and s.owner == "bob" and s,
    )
    assert session.owner == "bob"
    hangups = cc.entries(request.session_id, "call.hangup")
    missed = [e for e in hangups if e["party"] == "agent" and "reason" in e]
    assert [(e["agent"], e["reason"]) for e in missed] == [("alice", behaviour)], cc.explain()
    rung = [e["agent"] for e in cc.entries(request.session_id, "call.ringing")]
    assert rung == ["alice", "bob"]
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
    wait_for(
        "the waiting caller's request to be abandoned",
        lambda: cc.client.request(request.id).state is RequestState.ABANDONED,  # type: ignore[union-attr]
    )
    hangup = wait_for(
        "the hang-up in the transcript",
        lambda: cc.entries(request.session_id, "call.hangup"),
    )[-1]
    assert (hangup["party"], hangup["state"], hangup["cause"]) == ("customer", "waiting", 0)
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
    wait_for(
        "the ringing caller's request to be abandoned",
        lambda: cc.client.request(request.id).state is RequestState.ABANDONED,  # type: ignore[union-attr]
    )
    offer = cc.client.offer(cc.client.request(request.id).offer)  # type: ignore[union-attr]
    assert offer is not None and offer.state.value == "rescinded"
    wait_for("bob to be free again", lambda: cc.client.agent("bob").load.get("voice") == 0)  # type: ignore[union-attr]
