"""Customers calling entry points on the (fake) FreeSWITCH, routed by the real router through the
ESL bridge process: FreeSWITCH's mechanics of skill routing, agent first then bridge, an agent
leg rejected or not placed at all, overflow (router and dialplan). What a call does on both
PBXs (no answer, busy, abandon...) is tests/callflow/test_scenarios.py."""

from __future__ import annotations

import pytest
from freeswitch_fixture.phones import Answer, Reject
from fsbridge_harness import Stack


def bridged(stack: Stack, caller: str) -> str:
    """Wait until `caller` is bridged with an agent leg; return that leg's UUID."""

    def peer() -> str | None:
        leg = stack.calls.leg(caller)
        return leg.peer.uuid if leg is not None and leg.peer is not None else None

    return str(stack.wait(peer, f"caller {caller} to be bridged with an agent"))


def test_call_is_routed_by_skill_rung_first_and_bridged(stack: Stack) -> None:
    stack.agent_ready("anna")  # booking only
    stack.agent_ready("chris")  # billing
    caller = stack.calls.dial("801", "+4930123456", caller_name="Ada")

    request = stack.wait_request(caller, "accepted")
    assert request.agent == "chris"
    assert request.service == "billing"
    assert request.user_id == "+4930123456"
    assert request.pbx == "fs1"
    assert request.customer == {"language": "de", "entry": "billing_fs", "number": "+4930123456"}
    agent_leg = bridged(stack, caller)
    leg = stack.calls.leg(agent_leg)
    assert leg is not None
    assert leg.number == "2003"
    variables = dict(leg.variables)
    assert variables["implus_agent"] == "chris"
    assert variables["implus_caller"] == caller
    assert variables["implus_offer"] == request.offer
    # hold music from the entry's variable, the safety net cancelled before the bridge
    assert (caller, "local_stream://moh", "aleg") in stack.calls.broadcasts
    assert caller not in stack.calls.scheduled
    chris = stack.router.agent("chris")
    assert chris.load.get("voice") == 1
    # The leg the bridge placed does not make the phone "busy" in the router: its voice slot
    # is taken by the call already (no heartbeat for what the router knows).
    assert stack.router.agent("chris").devices.get("sip") == "available"

    stack.calls.hangup(caller)
    stack.wait_request(caller, "closed")
    stack.wait(
        lambda: (
            stack.router.agent("chris").load.get("voice", 0) == 0
            and stack.router.agent("chris").devices.get("sip") == "available"
        ),
        "chris to be free again",
    )
    entries = stack.call_entries(request.session_id, caller)
    kinds = [(e["type"], e.get("party")) for e in entries]
    assert kinds == [
        ("call.answered", "customer"),
        ("call.ringing", "agent"),
        ("call.answered", "agent"),
        ("call.bridged", None),
        ("call.hangup", "agent"),  # FreeSWITCH completes the agent's leg first
        ("call.hangup", "customer"),
    ]
    hangup = entries[-1]
    assert hangup["cause"] == "NORMAL_CLEARING"
    assert hangup["ended_by"] == "customer"
    assert hangup["duration_s"] >= hangup["talk_s"] >= 0
    assert all(e["pbx"] == "fs1" and e["direction"] == "inbound" for e in entries)
    stack.wait(lambda: stack.records() == 0, "the bridge to drop the call's record")


@pytest.mark.parametrize(
    ("behaviour", "cause", "reason"),
    [
        (Reject("CALL_REJECTED", ring_for=0.1), "CALL_REJECTED", "busy"),
        (None, "USER_NOT_REGISTERED", "unavailable"),
    ],
    ids=["rejected", "not-registered"],  # no answer, busy: tests/callflow/test_scenarios.py
)
def test_agent_not_answering_goes_to_the_next_agent(
    stack: Stack, behaviour: object, cause: str, reason: str
) -> None:
    stack.agent_ready("anna", behaviour or Answer())
    if behaviour is None:
        stack.calls.phones["2001"].registered = False  # gone without unregistering
    stack.agent_ready("bert")  # anna has been idle longer: she is offered first
    caller = stack.calls.dial("800", "+4930222222")

    request = stack.wait_request(caller, "accepted", timeout=15)
    assert request.agent == "bert"
    bridged(stack, caller)
    entries = stack.call_entries(request.session_id, caller)
    anna_rings = [e for e in entries if e.get("agent") == "anna"]
    assert [e["type"] for e in anna_rings] == ["call.ringing", "call.hangup"]
    assert anna_rings[1]["cause"] == cause
    assert anna_rings[1]["answered"] is False
    failed = [
        e for e in stack.router.read_events("0-0", None, 10000)
        if e.type == "offer.failed" and e.get("agent") == "anna"
    ]  # fmt: skip
    # the switch gives up before the router's offer timer (callflow.policy.ring_seconds)
    assert [e.get("reason") for e in failed] == [reason]
    assert stack.router.agent("anna").no_answer == (1 if reason == "no_answer" else 0)
    stack.calls.hangup(caller)
    stack.wait_request(caller, "closed")


def test_router_overflow_sends_the_caller_to_the_entry_overflow(stack: Stack) -> None:
    caller = stack.calls.dial("802", "+4930555555")  # claims: the strategy overflows after 1 s
    request = stack.wait_request(caller, "overflowed", timeout=10)
    stack.wait(lambda: stack.calls.transfers, "the caller to be transferred")
    assert stack.calls.transfers == [(caller, "claims_fs XML implus-overflow")]
    # the fake switch runs the generated overflow extension: event, then hangup
    stack.wait(lambda: stack.calls.leg(caller) is None, "the overflow to hang up")
    (event,) = stack.calls.custom_events
    assert event.get("Implus-Entry") == "claims_fs"
    assert event.get("Unique-ID") == caller
    transferred = stack.wait(
        lambda: [
            e for e in stack.call_entries(request.session_id) if e["type"] == "call.transferred"
        ],
        "the transfer in the transcript",
    )
    assert [(e["to"], e["by"]) for e in transferred] == [("overflow", "router")]
    stack.wait(lambda: stack.records() == 0, "the bridge to drop the call's record")


def test_dialplan_safety_net_overflow_cancels_the_request(stack: Stack) -> None:
    caller = stack.calls.dial("800", "+4930666666")  # nobody available: waits
    request = stack.wait_request(caller, "queued")
    stack.wait(lambda: stack.calls.broadcasts, "hold music")
    assert stack.calls.scheduled[caller] == "booking_fs XML implus-overflow"
    stack.calls.fire_safety_net(caller)  # max_wait + hold_margin elapsed on the switch
    request = stack.wait_request(caller, "abandoned")
    stack.wait(
        lambda: any(
            e["type"] == "call.transferred" and e["by"] == "dialplan"
            for e in stack.call_entries(request.session_id)
        ),
        "the dialplan's overflow in the transcript",
    )
