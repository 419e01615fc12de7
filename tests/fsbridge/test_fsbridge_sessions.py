"""Outbound VoIP (click-to-call) on FreeSWITCH's side, and the router taking a connected caller
back on hold - through the ESL bridge process. (Callback, click-to-call and chat then call on
both PBXs: tests/callflow/test_scenarios.py.)"""

from __future__ import annotations

from freeswitch_fixture.phones import Answer, Ring
from fsbridge_harness import Stack


def test_click_to_call_rings_the_agent_then_the_customer_through_the_trunk(stack: Stack) -> None:
    stack.agent_ready("anna")
    sub = stack.router.submit(channel="chat", service="booking", user_id="u-click")
    stack.calls.add_phone("0491701234", Answer(after=0.1))  # the customer, behind the trunk

    stack.router.click_to_call(sub.session_id, "anna", "491701234")

    def customer_leg() -> str | None:
        return next((u for u, leg in stack.calls.legs.items() if leg.number == "0491701234"), None)

    customer = stack.wait(customer_leg, "the customer's phone to be called")
    agent_leg = stack.wait(
        lambda: (leg := stack.calls.leg(customer)) is not None and leg.peer and leg.peer.uuid,
        "agent and customer to be bridged",
    )
    agent = stack.calls.leg(agent_leg)
    assert agent.number == "2001"
    variables = dict(agent.variables)
    assert variables["implus_dial"] == "491701234"
    assert variables["implus_agent"] == "anna"
    # the generated implus-outbound extension did the dialling: prefix 0, the trunk's gateway
    assert (agent_leg, "bridge", "{originate_timeout=60}sofia/gateway/implus-trunk-carrier/"
            "0491701234") in stack.calls.executed  # fmt: skip
    outbound = [e for e in stack.calls.custom_events if e.subclass == "implus::outbound"]
    assert [e.get("Implus-Dial") for e in outbound] == ["491701234"]

    stack.calls.hangup(customer)
    stack.wait(lambda: not stack.calls.legs, "both legs to end")
    entries = stack.wait(
        lambda: (
            (e := stack.call_entries(sub.session_id, agent_leg))
            and e[-1]["type"] == "call.hangup"
            and e[-1]["party"] == "agent"
            and e
        ),
        "the call's end in the transcript",
    )
    assert [(e["type"], e.get("party")) for e in entries] == [
        ("call.ringing", "agent"),
        ("call.answered", "agent"),
        ("call.ringing", "customer"),
        ("call.answered", "customer"),
        ("call.bridged", None),
        ("call.hangup", "customer"),
        ("call.hangup", "agent"),
    ]
    assert entries[-1]["customer_answered"] is True
    assert entries[-1]["ended_by"] == "customer"
    (requested,) = [
        e for e in stack.router.transcript(sub.session_id) if e["type"] == "call.requested"
    ]
    assert entries[0]["call"] == requested["call"]  # the router's id of this call


def test_click_to_call_agent_not_answering_is_recorded(stack: Stack) -> None:
    stack.agent_ready("anna", Ring())
    sub = stack.router.submit(channel="chat", service="booking", user_id="u-noanswer")
    stack.router.click_to_call(sub.session_id, "anna", "491700000")
    stack.wait(lambda: stack.calls.legs, "anna's phone to ring")
    (agent_leg,) = stack.calls.legs
    stack.calls.hangup(agent_leg, "NO_ANSWER")  # anna's phone gives up
    entries = stack.wait(
        lambda: (e := stack.call_entries(sub.session_id, agent_leg)) and len(e) == 2 and e,
        "the failed click-to-call in the transcript",
    )
    assert entries[-1]["cause"] == "NO_ANSWER"
    assert entries[-1]["answered"] is False


def test_hold_puts_the_caller_back_in_the_queue_for_another_agent(stack: Stack) -> None:
    stack.agent_ready("anna")
    caller = stack.calls.dial("801", "+4930888888")  # billing: nobody yet
    stack.wait_request(caller, "queued")
    stack.agent_ready("chris")
    first = stack.wait_request(caller, "accepted")
    first_leg = stack.wait(lambda: stack.calls.leg(caller).peer, "connected to chris").uuid

    stack.agent_ready("bert")
    moved = stack.router.transfer(first.id, agent_id="bert", by="chris")
    assert moved.ok
    # the caller leaves chris, parks again with music, and is connected to bert
    stack.wait(lambda: stack.calls.leg(first_leg) is None, "chris's leg to be hung up")
    second = stack.wait(
        lambda: (r := stack.router.request(moved.request_id)).state.value == "accepted" and r,
        "bert to take the caller",
    )
    assert second.agent == "bert"
    assert second.session_id == first.session_id
    stack.wait(
        lambda: (leg := stack.calls.leg(caller)).peer is not None and leg.peer.number == "2002",
        "the caller to be bridged with bert",
    )
    assert len([b for b in stack.calls.broadcasts if b[0] == caller]) == 2  # music twice
    assert stack.calls.scheduled.get(caller) is None  # re-armed, then deleted for bert
    types = [e["type"] for e in stack.call_entries(first.session_id, caller)]
    assert "call.transferred" in types
    stack.calls.hangup(caller)
    stack.wait(lambda: stack.router.request(moved.request_id).state.value == "closed", "the end")
