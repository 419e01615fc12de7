"""Call control, recording and listening in through the ESL bridge process and the fake
FreeSWITCH (uuid_hold, uuid_audio, uuid_bridge, uuid_record, eavesdrop, uuid_recv_dtmf as
mod_commands answers them): the same call flow as on Asterisk (tests/asterisk/
test_call_control.py), the router operations the chat service calls (router/control.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from freeswitch_fixture.phones import Answer, Ring
from fsbridge_harness import Stack

from devstack.media import wav_seconds
from router import control


def _act(stack: Stack, session: str, action: str, by: str = "anna", **target: str) -> None:
    done = stack.router.run(control.call_control(stack.router.ops, session, action, by, **target))
    assert done.ok, (action, done.reason)


def _entry(stack: Stack, session: str, etype: str, **match: Any) -> dict[str, Any]:
    def find() -> dict[str, Any] | None:
        for e in stack.router.transcript(session):
            if e["type"] == etype and all(e.get(k) == v for k, v in match.items()):
                return e
        return None

    return stack.wait(find, f"{etype} {match} in the transcript")  # type: ignore[no-any-return]


def _done(stack: Stack, session: str, action: str) -> dict[str, Any]:
    return _entry(stack, session, "call.control", action=action, state="done")


def _connected(stack: Stack, number: str) -> tuple[str, str, str]:
    """A support call from `number`, answered by anna: (caller, anna's leg, session)."""
    caller = stack.calls.dial("803", number)
    request = stack.wait_request(caller, "accepted")
    leg = stack.wait(
        lambda: (c := stack.calls.leg(caller)) is not None and c.peer is not None and c.peer.uuid,
        "the caller bridged with anna",
    )
    _entry(stack, request.session_id, "call.bridged")
    return caller, str(leg), request.session_id


def _peer(stack: Stack, uuid: str) -> str | None:
    leg = stack.calls.leg(uuid)
    return leg.peer.uuid if leg is not None and leg.peer is not None else None


def test_hold_mute_consult_complete_and_the_recording(stack: Stack, tmp_path: Path) -> None:
    stack.agent_ready("anna")
    stack.calls.add_phone("2002", Answer(after=0.1))  # bert: consulted, not routed to
    caller, anna, session = _connected(stack, "+4930111")
    assert ("", "playback", "ivr/ivr-this_call_may_be_recorded.wav") in stack.calls.executed
    started = _entry(stack, session, "call.recording", state="started")
    ctl = stack.calls.control
    assert [r.uuid for r in ctl.recordings] == [caller]
    assert ctl.recordings[0].path == f"{tmp_path / 'recordings'}/{started['file']}"

    _act(stack, session, "hold")
    _done(stack, session, "hold")
    assert anna in ctl.held
    assert (caller, "local_stream://moh", "aleg") in stack.calls.broadcasts[-1:]
    _act(stack, session, "resume")
    _done(stack, session, "resume")
    assert anna not in ctl.held and _peer(stack, caller) == anna
    _act(stack, session, "mute")
    _done(stack, session, "mute")
    assert anna in ctl.muted
    _act(stack, session, "unmute")
    _done(stack, session, "unmute")
    assert anna not in ctl.muted

    _act(stack, session, "consult", target_kind="agent", target="bert")
    _done(stack, session, "consult")
    answered = _entry(stack, session, "call.consult", state="answered", target="bert")
    bert = answered["leg"]
    stack.wait(lambda: _peer(stack, anna) == bert, "anna talking with bert")
    assert stack.calls.leg(caller).state == "parked"  # the customer waits, with music
    assert stack.calls.leg(caller).playing == "local_stream://moh"
    _act(stack, session, "complete")
    _done(stack, session, "complete")
    moved = _entry(stack, session, "call.transferred", to="agent", agent="bert")
    assert moved["previous"] == "anna" and moved["agent_leg"] == bert
    stack.wait(lambda: _peer(stack, caller) == bert, "the customer talking with bert")
    stack.wait(lambda: stack.calls.leg(anna) is None, "anna off the call")
    stack.wait(lambda: stack.router.session(session).owner == "bert", "bert owning the session")
    assert stack.router.agent("bert").load.get("voice") == 1
    stack.wait(lambda: stack.router.agent("anna").load.get("voice", 0) == 0, "anna free")

    _act(stack, session, "hangup", by="bert")
    stack.wait(lambda: stack.calls.leg(caller) is None, "the call ended")
    ended = _entry(stack, session, "call.recording", state="ended")
    wav = tmp_path / "recordings" / ended["file"]
    stack.wait(wav.is_file, "the recording's file")
    assert abs(wav_seconds(wav) - ended["duration_s"]) < 0.5
    stack.wait(lambda: stack.router.agent("bert").load.get("voice", 0) == 0, "bert free")
    hangup = _entry(stack, session, "call.hangup", party="customer")
    assert hangup["ended_by"] == "agent"
    stack.wait(lambda: stack.records() == 0, "the bridge to drop the call's record")


def test_supervisor_modes_consult_cancel_and_blind_transfer(stack: Stack) -> None:
    stack.agent_ready("anna")
    stack.calls.add_phone("2009", Answer(after=0.05))  # root's phone
    stack.calls.add_phone("0555777", Ring())  # a consulted number nobody answers
    stack.calls.add_phone("0555999", Answer(after=0.05))  # where the customer goes
    caller, anna, session = _connected(stack, "+4930222")
    r = stack.router

    assert r.run(control.supervise(r.ops, session, "root", "listen")).ok
    listening = _entry(stack, session, "call.supervise", state="listening")
    spy = listening["leg"]
    assert stack.calls.leg(spy).eavesdrop == anna
    variables = dict(stack.calls.leg(spy).variables)
    assert variables["eavesdrop_enable_dtmf"] == "true" and variables["implus_spy"] == caller
    assert r.run(control.supervise(r.ops, session, "root", "whisper")).ok
    _entry(stack, session, "call.supervise", state="mode", mode="whisper")
    assert r.run(control.supervise(r.ops, session, "root", "barge")).ok
    _entry(stack, session, "call.supervise", state="mode", mode="barge")
    assert stack.calls.control.dtmf == [(spy, "2"), (spy, "3")]
    other = r.run(control.supervise(r.ops, session, "boss", "listen"))
    assert other.ok  # the router takes it; the bridge refuses a second listener
    _entry(stack, session, "call.supervise", supervisor="boss", state="failed")
    assert r.run(control.supervise(r.ops, session, "root", "stop")).ok
    _entry(stack, session, "call.supervise", state="ended", supervisor="root")
    stack.wait(lambda: stack.calls.leg(spy) is None, "the supervisor's leg gone")

    _act(stack, session, "consult", target_kind="number", target="555777")
    _done(stack, session, "consult")
    _entry(stack, session, "call.consult", state="dialing", target="555777")
    _act(stack, session, "cancel")
    _done(stack, session, "cancel")
    stack.wait(lambda: _peer(stack, caller) == anna, "the customer back with anna")
    _entry(stack, session, "call.consult", state="cancelled", target="555777")

    _act(stack, session, "transfer", target_kind="number", target="555999")
    _done(stack, session, "transfer")
    _entry(stack, session, "call.transferred", to="number", number="555999")
    outside = stack.wait(lambda: _peer(stack, caller), "the customer bridged out")
    assert stack.calls.leg(outside).number == "0555999"  # the trunk's dial prefix
    assert ("implus_dial", "555999") in stack.calls.leg(caller).variables
    stack.wait(lambda: stack.calls.leg(anna) is None, "anna off the call")
    request = stack.request_for_call(caller)
    stack.wait(lambda: r.request(request.id).state.value == "closed", "the contact over")
    stack.calls.hangup(caller)
    hangup = _entry(stack, session, "call.hangup", party="customer")
    assert hangup["state"] == "transferred"
    stack.wait(lambda: stack.records() == 0, "the bridge to drop the call's record")


def test_refused_and_impossible_actions_say_why(stack: Stack) -> None:
    stack.agent_ready("anna")
    caller, anna, session = _connected(stack, "+4930333")
    r = stack.router
    refused = r.run(control.call_control(r.ops, session, "hold", "bert"))
    assert not refused.ok and "another agent" in refused.reason
    _act(stack, session, "resume")
    failed = _entry(stack, session, "call.control", action="resume", state="failed")
    assert failed["reason"] == "the customer is not on hold"
    _act(stack, session, "complete")
    assert _entry(stack, session, "call.control", action="complete", state="failed")["reason"]
    _act(stack, session, "consult", target_kind="agent", target="chris")  # not registered
    _done(stack, session, "consult")
    failure = _entry(stack, session, "call.consult", state="failed", target="chris")
    assert failure["cause"] == "USER_NOT_REGISTERED"
    # the customer stays on hold until the agent resumes
    assert stack.calls.leg(caller).state == "parked"
    _act(stack, session, "resume")
    stack.wait(lambda: _peer(stack, caller) == anna, "the customer back with anna")
    assert r.run(control.supervise(r.ops, session, "nobody", "listen")).ok
    no_phone = _entry(stack, session, "call.supervise", supervisor="nobody", state="failed")
    assert "no phone" in no_phone["reason"]
    stack.calls.hangup(caller)
    stack.wait(lambda: stack.records() == 0, "the bridge to drop the call's record")


def test_the_agent_hanging_up_during_a_consult_completes_the_transfer(stack: Stack) -> None:
    """As on an office phone: the consulted colleague keeps the customer."""
    stack.agent_ready("anna")
    stack.calls.add_phone("2002", Answer(after=0.05))
    caller, anna, session = _connected(stack, "+4930444")
    _act(stack, session, "consult", target_kind="agent", target="bert")
    bert = _entry(stack, session, "call.consult", state="answered")["leg"]
    stack.wait(lambda: _peer(stack, anna) == bert, "anna talking with bert")
    stack.calls.hangup(anna)
    _entry(stack, session, "call.transferred", to="agent", agent="bert")
    stack.wait(lambda: _peer(stack, caller) == bert, "the customer talking with bert")
    stack.wait(lambda: stack.router.session(session).owner == "bert", "bert owning the session")
    stack.calls.hangup(caller)
    stack.wait(lambda: stack.records() == 0, "the bridge to drop the call's record")
    stack.wait(lambda: stack.router.agent("bert").load.get("voice", 0) == 0, "bert free")
