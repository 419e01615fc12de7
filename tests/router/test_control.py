"""Call control and listening in, the router's part: who may ask, what the PBX gets, the
transcript, and the handover of an attended transfer (router/control.py)."""

from __future__ import annotations

import pytest

from router import control
from router.errors import InvalidInput
from router.model import RequestState

STRATEGY = """
defaults: {queue: booking, offer_timeout: 20, wrapup: {voice: 0, chat: 0}}
queues:
  booking: {skills: {booking: 1}}
  billing: {skills: {billing: 1}}
rules:
  - {name: all, conditions: "true", actions: {queue: booking}}
"""


def _call(router, agent: str = "alice") -> tuple[str, str]:
    """A voice call on PBX ast1 accepted by `agent`: (session, request)."""
    c = router.client
    c.load_strategy(STRATEGY)
    router.agent("alice", skills={"booking": 2}, pbx="ast1", endpoint="1001")
    router.agent("bob", skills={"booking": 1}, pbx="ast1", endpoint="1002", available=False)
    sub = c.submit("voice", "booking", "5550100", pbx="ast1", call_id="17.1")
    router.drain()
    [offer] = router.offers_for(agent)
    assert c.accept(offer, agent)
    return sub.session_id, sub.request_id


def _commands(router, pbx: str = "ast1") -> list[dict[str, str]]:
    rows = router.client.redis.xrange(router.client.keys.pbx_commands(pbx))
    return [f for _, f in rows if f["type"] in ("call_control", "supervise")]


def test_the_agent_on_the_call_controls_it_others_are_refused(router) -> None:
    c = router.client
    session, request = _call(router)
    done = c.run(control.call_control(c.ops, session, "hold", "alice"))
    assert done.ok and done.request_id == request and done.command_id
    refused = c.run(control.call_control(c.ops, session, "hold", "bob"))
    assert not refused.ok and "another agent" in refused.reason
    as_supervisor = c.run(control.call_control(c.ops, session, "hangup", "root", supervisor=True))
    assert as_supervisor.ok
    commands = _commands(router)
    assert [(x["action"], x["by"], x["call_id"], x["agent"]) for x in commands] == [
        ("hold", "alice", "17.1", "alice"),
        ("hangup", "root", "17.1", "alice"),
    ]
    entries = [e for e in c.transcript(session) if e["type"] == "call.control"]
    assert [(e["action"], e["by"], e["state"]) for e in entries] == [
        ("hold", "alice", "requested"),
        ("hangup", "root", "requested"),
    ]


def test_consult_names_the_target_phone_and_a_queue_transfer_is_routed(router) -> None:
    c = router.client
    session, request = _call(router)
    consult = c.run(
        control.call_control(c.ops, session, "consult", "alice", target_kind="agent", target="bob")
    )
    assert consult.ok
    [command] = _commands(router)
    assert (command["target_kind"], command["target"]) == ("agent", "bob")
    assert (command["endpoint"], command["target_pbx"]) == ("1002", "ast1")
    moved = c.run(
        control.call_control(
            c.ops, session, "transfer", "alice", target_kind="queue", target="billing"
        )
    )
    assert moved.ok and moved.request_id != request and not moved.command_id
    assert c.request(request).state is RequestState.CLOSED
    hold = [
        f for _, f in c.redis.xrange(c.keys.pbx_commands("ast1")) if f["type"] == "hold"
    ]  # the router's own transfer takes the caller back on hold
    assert [h["request"] for h in hold] == [moved.request_id]
    again = c.run(control.call_control(c.ops, session, "hold", "alice"))
    assert not again.ok and again.reason == "no call in progress in this session"


@pytest.mark.parametrize(
    ("action", "kind", "target", "message"),
    [
        ("jump", "", "", "action must be one of"),
        ("transfer", "", "", "needs target_kind"),
        ("consult", "queue", "billing", "transfer to a queue is blind"),
        ("transfer", "number", "12;34", "must be digits"),
        ("hold", "number", "123", "takes no target"),
        ("consult", "agent", "bad id", "without spaces"),
    ],
)
def test_bad_requests_say_what_is_wrong(router, action, kind, target, message) -> None:
    c = router.client
    session, _ = _call(router)
    with pytest.raises(InvalidInput, match=message):
        c.run(
            control.call_control(c.ops, session, action, "alice", target_kind=kind, target=target)
        )
    assert not _commands(router)


def test_supervise_is_recorded_and_handover_moves_the_contact(router) -> None:
    c = router.client
    session, request = _call(router)
    listen = c.run(control.supervise(c.ops, session, "root", "whisper"))
    assert listen.ok
    [command] = _commands(router)
    assert (command["type"], command["mode"], command["supervisor"]) == (
        "supervise",
        "whisper",
        "root",
    )
    with pytest.raises(InvalidInput):
        c.run(control.supervise(c.ops, session, "root", "shout"))
    handed = c.run(control.handover(c.ops, request, "bob", by="alice"))
    assert handed.ok
    assert c.request(request).state is RequestState.CLOSED
    new = c.request(handed.request_id)
    assert new.state is RequestState.ACCEPTED and new.agent == "bob" and new.call_id == "17.1"
    assert c.session(session).owner == "bob"
    assert c.agent("bob").load == {"voice": 1} and c.agent("alice").load == {"voice": 0}
    assert [r.id for r in c.agent_contacts("bob")] == [handed.request_id]
    assert [e.get("agent") for e in router.events("contact.handed_over")] == ["bob"]
    # bob now owns the call: alice may no longer control it
    assert not c.run(control.call_control(c.ops, session, "hold", "alice")).ok
    assert c.run(control.call_control(c.ops, session, "hold", "bob")).ok
    assert not c.run(control.handover(c.ops, request, "bob")).ok  # already handed over
