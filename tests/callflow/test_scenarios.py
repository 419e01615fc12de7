"""One scenario table, run against both bridges: the same router outcomes and the same
transcript shape from Asterisk (AMI bridge, sandbox + sipp) and FreeSWITCH (ESL bridge,
the fixture switch), so the two cannot drift apart (docs/call-flow.md, "The shared call
flow"). Each scenario runs once per PBX (`pbx` is a `PbxDriver`, pbx_drivers.py).

Where the PBXs differ in wire mechanics only, the assertion is normalised (a set where
the order of two hang-ups is the PBX's; a cause Asterisk does not know); each such place
says why, and docs/call-flow.md ("Differences that remain, and why") lists them.

The world (agents, entry points, strategy) is scenario_world.py; how the call entries are
read, call_entries.py.
"""

from __future__ import annotations

import pytest
from call_entries import CUSTOMER_BYE_CAUSES, call_over, hangups_of, shape, split_at_bridge
from pbx_drivers import PbxDriver, Phone, wait_until
from scenario_world import ANSWERS, MAX_WAIT, start

from router.model import OfferState, RequestState

pytestmark = pytest.mark.parametrize(
    "pbx", [pytest.param("asterisk", marks=pytest.mark.asterisk), "freeswitch"], indirect=True
)


# --- 1. inbound ---------------------------------------------------------------------------


def test_call_reaches_the_agent_with_the_skill_and_the_customer_hangs_up(pbx: PbxDriver) -> None:
    start(pbx)
    pbx.agents_ready({"alice": ANSWERS, "carol": ANSWERS})  # alice: booking only
    customer = pbx.call("801", "5550101", hold=2.5)

    request = pbx.request_for("5550101")
    assert (request.service, request.user_id, request.pbx) == ("billing", "5550101", pbx.pbx)
    assert request.customer == {"language": "en", "entry": "billing_in", "number": "5550101"}
    closed = pbx.wait_request(request, RequestState.CLOSED, timeout=20)
    assert closed.agent == "carol"
    entries = pbx.wait_entries(request.session_id, call_over, "both hang-ups")
    wait_until(customer.over, "the customer's call to end")
    customer.check()
    pbx.wait_free("carol")
    wait_until(lambda: pbx.phone_idle("carol"), "carol's phone to hang up")
    assert pbx.rings("alice") == 0
    assert pbx.rings("carol") == 1

    ordered, hangups = split_at_bridge(entries)
    assert ordered == [
        ("call.answered", "customer", ""),
        ("call.ringing", "agent", "carol"),
        ("call.answered", "agent", "carol"),
        ("call.bridged", "", "carol"),
    ], pbx.explain()
    assert hangups == {("customer", "carol", "customer"), ("agent", "carol", "customer")}
    answered = [e for e in entries if e["type"] == "call.answered"]
    assert (answered[0]["entry"], answered[0]["number"]) == ("billing_in", "5550101")
    assert answered[0]["leg"] == answered[0]["call_id"] == request.call_id
    ringing = next(e for e in entries if e["type"] == "call.ringing")
    assert ringing["offer"] == closed.offer
    bridged = next(e for e in entries if e["type"] == "call.bridged")
    assert bridged["agent_leg"] == answered[1]["leg"] == ringing["leg"] != request.call_id
    (hangup,) = hangups_of(entries, "customer")
    assert (hangup["state"], hangup["cause"]) == ("connected", "NORMAL_CLEARING")
    assert 0.5 <= hangup["talk_s"] <= hangup["duration_s"] < 10  # hold: 2.5 s
    (agent_hangup,) = hangups_of(entries, "agent")
    assert agent_hangup["cause"] == "NORMAL_CLEARING"
    assert agent_hangup["leg"] == ringing["leg"]
    assert {(e["pbx"], e["direction"], e["call_id"]) for e in entries} == {
        (pbx.pbx, "inbound", request.call_id)
    }
    # the router's entries among the call's: filed, then assigned when carol answered
    assert [e["type"] for e in pbx.transcript(request.session_id)] == [
        "request",
        "call.answered",
        "call.ringing",
        "assigned",
        *(t for t, _, _ in ordered[2:]),
        "call.hangup",
        "call.hangup",
    ]


# --- 2, 3. no answer / busy: the next agent -------------------------------------------------


@pytest.mark.parametrize(
    ("behaviour", "cause"), [("no_answer", "NO_ANSWER"), ("busy", "USER_BUSY")]
)
def test_agent_a_does_not_answer_agent_b_gets_the_call(
    pbx: PbxDriver, behaviour: str, cause: str
) -> None:
    start(pbx, offer_timeout=3)
    pbx.agents_ready(
        {
            "alice": Phone(behaviour, ring=0.2),  # type: ignore[arg-type]
            "bob": Phone("answer", ring=0.2, talk=1.0),
        }
    )
    customer = pbx.call("800", "5550102", hold=None)  # stays until bob hangs up
    pbx.wait(lambda: pbx.rings("bob"), "bob's phone to ring")
    assert pbx.phone_idle("alice")  # her phone stopped ringing before the next agent's rang

    request = pbx.request_for("5550102")
    closed = pbx.wait_request(request, RequestState.CLOSED, timeout=25)
    assert closed.agent == "bob"
    entries = pbx.wait_entries(request.session_id, call_over, "both hang-ups")
    wait_until(customer.over, "the customer's call to end")
    customer.check()
    assert (pbx.rings("alice"), pbx.rings("bob")) == (1, 1)

    ordered, hangups = split_at_bridge(entries)
    assert ordered == [
        ("call.answered", "customer", ""),
        ("call.ringing", "agent", "alice"),
        ("call.hangup", "agent", "alice"),
        ("call.ringing", "agent", "bob"),
        ("call.answered", "agent", "bob"),
        ("call.bridged", "", "bob"),
    ], pbx.explain()
    assert hangups == {("customer", "bob", "agent"), ("agent", "bob", "agent")}
    missed = hangups_of(entries, "agent")[0]
    assert (missed["cause"], missed["reason"], missed["answered"]) == (cause, behaviour, False)
    failed = [
        (e.get("agent"), e.get("reason"))
        for e in pbx.router.read_events("0-0", None, 10_000)
        if e.type == "offer.failed"
    ]
    assert failed == [("alice", behaviour)]  # the PBX gave up before the router's timer
    # a ring nobody answered counts against the agent; a busy phone does not
    assert pbx.agent("alice").no_answer == (1 if behaviour == "no_answer" else 0)
    (hangup,) = hangups_of(entries, "customer")
    assert (hangup["state"], hangup["cause"], hangup["ended_by"]) == (
        "connected",
        "NORMAL_CLEARING",
        "agent",
    )
    pbx.wait_free("bob")


# --- 4, 5. abandon ------------------------------------------------------------------------


def test_caller_abandons_while_waiting(pbx: PbxDriver) -> None:
    start(pbx)
    customer = pbx.call("800", "5550103", hold=1.5)  # nobody is available
    request = pbx.request_for("5550103")
    pbx.wait_request(request, RequestState.ABANDONED)
    entries = pbx.wait_entries(
        request.session_id, lambda e: e[-1]["type"] == "call.hangup", "the hang-up"
    )
    wait_until(customer.over, "the customer's call to end")
    customer.check()
    assert shape(entries) == [
        ("call.answered", "customer", ""),
        ("call.hangup", "customer", ""),
    ]
    hangup = entries[-1]
    assert (hangup["state"], hangup["ended_by"]) == ("waiting", "customer")
    assert hangup["cause"] in CUSTOMER_BYE_CAUSES
    assert 0.5 <= hangup["duration_s"] < 10  # hold: 1.5 s
    types = [e["type"] for e in pbx.transcript(request.session_id)]
    assert types.index("abandoned") > types.index("call.hangup")


def test_caller_abandons_while_the_agent_rings(pbx: PbxDriver) -> None:
    start(pbx, offer_timeout=20)
    pbx.agent_ready("bob", Phone("no_answer"))
    customer = pbx.call("800", "5550104", hold=2.0)
    request = pbx.request_for("5550104")
    abandoned = pbx.wait_request(request, RequestState.ABANDONED)
    wait_until(customer.over, "the customer's call to end")
    customer.check()
    wait_until(lambda: pbx.phone_idle("bob"), "bob's phone to stop ringing")
    assert pbx.rings("bob") == 1
    offer = pbx.router.offer(abandoned.offer)
    assert offer is not None
    assert (offer.agent_id, offer.state) == ("bob", OfferState.RESCINDED)
    pbx.wait_free("bob")
    assert pbx.agent("bob").no_answer == 0  # not the agent's fault
    entries = pbx.wait_entries(
        request.session_id, lambda e: e[-1]["type"] == "call.hangup", "the hang-up"
    )
    assert shape(entries) == [
        ("call.answered", "customer", ""),
        ("call.ringing", "agent", "bob"),
        ("call.hangup", "customer", "bob"),
    ], pbx.explain()
    hangup = entries[-1]
    assert (hangup["state"], hangup["ended_by"]) == ("ringing", "customer")
    assert hangup["cause"] in CUSTOMER_BYE_CAUSES


# --- 6. router overflow -------------------------------------------------------------------


def test_router_overflow_sends_the_caller_to_the_entry_overflow(pbx: PbxDriver) -> None:
    start(pbx)
    customer = pbx.call("802", "5550106", hold=None)  # the overflow (hangup) ends it
    request = pbx.request_for("5550106")
    pbx.wait_request(request, RequestState.OVERFLOWED)
    entries = pbx.wait_entries(
        request.session_id, lambda e: e[-1]["type"] == "call.hangup", "the overflow's hang-up"
    )
    wait_until(customer.over, "the customer's call to end")
    customer.check()
    assert shape(entries) == [
        ("call.answered", "customer", ""),
        ("call.transferred", "", ""),
        ("call.hangup", "customer", ""),
    ], pbx.explain()
    transferred = entries[1]
    assert (transferred["to"], transferred["by"], transferred["destination"]) == (
        "overflow",
        "router",
        "voicemail",  # the strategy's destination names it
    )
    assert entries[-1]["state"] == "overflowed"


def test_max_wait_sends_the_caller_to_the_overflow_on_time(pbx: PbxDriver) -> None:
    """The entry point's max wait is the router's to keep (to the second), not the
    dialplan's safety net's (max wait + hold margin)."""
    start(pbx)  # nobody is ready: the caller waits
    customer = pbx.call("803", "5550116", hold=None)  # the overflow (hangup) ends it
    request = pbx.request_for("5550116")
    assert request.max_wait == MAX_WAIT
    over = pbx.wait_request(request, RequestState.OVERFLOWED, timeout=MAX_WAIT + 10)
    waited = (over.ended_at - over.created) / 1000
    assert MAX_WAIT <= waited <= MAX_WAIT + 1, f"overflowed after {waited:.2f} s"
    entries = pbx.wait_entries(
        request.session_id, lambda e: e[-1]["type"] == "call.hangup", "the overflow's hang-up"
    )
    wait_until(customer.over, "the customer's call to end")
    customer.check()
    transferred = entries[1]
    assert (transferred["type"], transferred["to"], transferred["by"]) == (
        "call.transferred",
        "overflow",
        "router",
    ), pbx.explain()
    assert transferred["destination"] == "hangup"  # the entry point's own overflow


# --- 7. the known agent -------------------------------------------------------------------


def test_chat_then_call_goes_to_the_known_agent(pbx: PbxDriver) -> None:
    start(pbx)
    pbx.agent_ready("bob", Phone("answer", ring=0.2, talk=1.0))
    chat = pbx.router.submit(channel="chat", service="booking", user_id="5550107")
    offer = pbx.wait(lambda: pbx.router.agent_offers("bob"), "the chat offered to bob")[0]
    assert pbx.router.accept(offer.id, "bob").ok
    pbx.agent_ready("alice", ANSWERS)  # the higher skill: would win without stickiness
    customer = pbx.call("800", "5550107", hold=None)

    call = pbx.request_for("5550107")
    assert call.session_id == chat.session_id  # one session for chat and call
    closed = pbx.wait_request(call, RequestState.CLOSED, timeout=20)
    assert closed.agent == "bob"
    wait_until(customer.over, "the customer's call to end")
    customer.check()
    assert pbx.rings("alice") == 0
    entries = pbx.wait_entries(chat.session_id, call_over, "both hang-ups")
    ordered, _ = split_at_bridge(entries)
    assert [agent for _, party, agent in ordered if party == "agent"] == ["bob", "bob"]
    types = [e["type"] for e in pbx.transcript(chat.session_id)]
    assert types.index("assigned") < types.index("call.answered")  # the chat came first
    chat_request = pbx.router.request(chat.request_id)
    assert chat_request is not None
    assert chat_request.state is RequestState.ACCEPTED  # the chat goes on


# --- 8. outbound: callback and click-to-call ---------------------------------------------


def test_callback_and_click_to_call_reach_the_customer_through_the_trunk(pbx: PbxDriver) -> None:
    start(pbx)
    pbx.agent_ready("bob", ANSWERS)
    pbx.customer_phone(Phone("answer", ring=0.3, talk=1.0))
    # The widget's "call me": a routed voice request with a number to call back.
    me = pbx.router.submit(
        channel="voice", service="booking", user_id="u-callback", callback_number="5550177"
    )
    callback = pbx.router.request(me.request_id)
    assert callback is not None
    closed = pbx.wait_request(callback, RequestState.CLOSED, timeout=20)
    assert closed.agent == "bob"
    # The desktop's click-to-call, in the same session.
    pbx.router.click_to_call(me.session_id, "bob", "+15550178")
    entries = pbx.wait_entries(
        me.session_id,
        lambda e: sum(x["type"] == "call.hangup" for x in e) >= 4,
        "both calls' hang-ups",
    )
    wait_until(lambda: pbx.phone_idle("bob"), "bob's phone to hang up")
    pbx.wait_free("bob")
    assert pbx.customers_rung() == ["5550177", "+15550178"]

    entries = [e for e in entries if e["type"] != "call.requested"]  # the router's own
    legs = [(e["type"], e.get("party", "")) for e in entries]
    one_call = [
        ("call.ringing", "agent"),
        ("call.answered", "agent"),
        ("call.ringing", "customer"),
        ("call.answered", "customer"),
        ("call.bridged", ""),
        ("call.hangup", "customer"),
        ("call.hangup", "agent"),
    ]
    assert legs == one_call + one_call, pbx.explain()
    calls = {e["call_id"] for e in entries}
    assert len(calls) == 2
    assert {e["direction"] for e in entries} == {"outbound"}
    for hangup in [e for e in entries if e["type"] == "call.hangup"]:
        assert (hangup["ended_by"], hangup["cause"]) == ("customer", "NORMAL_CLEARING"), hangup
    agent_ends = hangups_of(entries, "agent")
    assert [h["customer_answered"] for h in agent_ends] == [True, True]
    assert all(0.8 <= h["duration_s"] < 5 for h in hangups_of(entries, "customer"))
    (requested,) = [e for e in pbx.transcript(me.session_id) if e["type"] == "call.requested"]
    clicked = [e for e in entries if e.get("call")]
    assert {e["call"] for e in clicked} == {requested["call"]}  # the router's id of the click
    assert len(clicked) == 7  # every entry of the click-to-call names it


# --- 9. the bridge killed and restarted mid-call -----------------------------------------


def test_bridge_killed_and_restarted_during_calls(pbx: PbxDriver) -> None:
    start(pbx)
    pbx.agents_ready(
        {"bob": Phone("answer", ring=0.2, talk=8.0), "alice": Phone("answer", ring=0.2, talk=1.0)},
        desktop=False,
    )
    pbx.desktop_online("bob")
    # A talks to bob; C waits (alice is not logged in) when the bridge dies.
    call_a = pbx.call("800", "5550301", hold=None)
    a = pbx.request_for("5550301")
    pbx.wait_request(a, RequestState.ACCEPTED)
    call_c = pbx.call("800", "5550303", hold=2.0)
    c = pbx.request_for("5550303")

    pbx.kill_bridge()
    # While no bridge listens: B arrives and holds, C gives up, alice logs in.
    call_b = pbx.call("800", "5550302", hold=None)
    wait_until(call_c.over, "C to hang up")
    pbx.desktop_online("alice")

    pbx.restart_bridge()
    # (a call that ended while no bridge listened cannot tell who hung up: A must outlive it)
    assert not call_a.over(), "A ended before the bridge was back: the machine is too slow"
    pbx.wait_request(c, RequestState.ABANDONED)  # C's hang-up was repaired
    b = pbx.request_for("5550302")  # B was found holding and filed
    assert b.call_id not in (a.call_id, c.call_id)
    assert pbx.wait_request(b, RequestState.CLOSED, timeout=20).agent == "alice"
    closed = pbx.wait_request(a, RequestState.CLOSED, timeout=20)  # A ends with bob's hang-up
    assert closed.agent == "bob"
    for run in (call_a, call_b, call_c):
        wait_until(run.over, f"the call from {run.number} to end")
        run.check()
    pbx.wait_free("bob")
    pbx.wait_free("alice")

    entries_a = pbx.wait_entries(a.session_id, call_over, "A's hang-ups")
    ordered, hangups = split_at_bridge(entries_a)
    assert [t for t, _, _ in ordered].count("call.bridged") == 1
    assert hangups == {("customer", "bob", "agent"), ("agent", "bob", "agent")}
    (hangup,) = hangups_of(entries_a, "customer")
    assert (hangup["state"], hangup["cause"]) == ("connected", "NORMAL_CLEARING")
    assert hangup["talk_s"] >= 7.0  # timed from the first bridge's answer
    # C was filed just before the kill: its arrival is in the transcript even if the bridge
    # died before writing it (FreeSWITCH writes it after the hold music command)
    entries_c = pbx.calls_in(c.session_id)
    assert shape(entries_c) == [("call.answered", "customer", ""), ("call.hangup", "customer", "")]
    gone = entries_c[-1]
    assert (gone["state"], gone["cause"], gone["ended_by"]) == ("waiting", "UNKNOWN", "customer")
    assert "gone while the bridge" in gone["cause_txt"]
    entries_b = pbx.wait_entries(b.session_id, call_over, "B's hang-ups")
    ordered_b, _ = split_at_bridge(entries_b)
    assert ordered_b[0] == ("call.answered", "customer", "")
    assert ordered_b[-1] == ("call.bridged", "", "alice")
