"""Call control, recording and listening in on the sandbox Asterisk 22: real SIP calls that
carry audio (sipp phones streaming a tone), the `implus ami-bridge` process, the router's
worker on a real redis-server. The router operations are the ones the chat service calls
(router/control.py); tests/chat covers who may call them.

Two calls, each exercising several actions, to keep the suite lean:
1. hold, resume, mute, unmute, consult a colleague, complete (attended transfer), hang up
   - with the service recording: the WAV is there, playable, as long as the call;
2. a supervisor listens, whispers, stops; then a blind transfer to a number.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from callcentre import CallCentre, wait_for

from devstack import configs
from devstack.lab import PBX_ID, LabAgent, LabEntry
from devstack.media import wav_seconds
from devstack.sipp import agent_endpoint_config
from router import control
from router.model import RequestState

pytestmark = pytest.mark.asterisk

ALICE = LabAgent("alice", "1001", 5081, {"booking": 5})
BOB = LabAgent("bob", "1002", 5082, {"booking": 1})
BOOKING = LabEntry("booking_en", "800", "booking")
SUPERVISOR_PORT = 5089
RECORDINGS = "/var/spool/asterisk/monitor/implus"


def _admin(data: dict[str, Any]) -> None:
    """Booking calls are recorded; a supervisor (root) has a phone (1009)."""
    data["services"][0]["recording"] = {"retention_days": 7}
    data["supervisors"] = [
        {
            "id": "root",
            "pbx": PBX_ID,
            "endpoint": "1009",
            "contact": f"sip:1009@{configs.SIP_HOST}:{SUPERVISOR_PORT}",
        }
    ]


def _start(cc: CallCentre, *agents: LabAgent) -> None:
    cc.lab.agents = list(agents)
    cc.lab.entries = [BOOKING]
    cc.lab.admin_hook = _admin
    cc.lab.extra_pjsip = agent_endpoint_config("1009", contact_port=SUPERVISOR_PORT, qualify=1)
    cc.start(offer_timeout=8)


def _act(cc: CallCentre, session: str, action: str, by: str = "alice", **target: str) -> None:
    """What the chat service does for the desktop's button (router/control.py)."""
    done = cc.client.run(control.call_control(cc.client.ops, session, action, by, **target))
    assert done.ok, (action, done.reason)


def _entry(cc: CallCentre, session: str, etype: str, **match: Any) -> dict[str, Any]:
    def find() -> dict[str, Any] | None:
        for e in cc.client.transcript(session):
            if e["type"] == etype and all(e.get(k) == v for k, v in match.items()):
                return e
        return None

    try:
        return wait_for(f"{etype} {match} in the transcript", find, timeout=20)
    except AssertionError as e:
        raise AssertionError(f"{e}\n{_timeline(cc, session)}{cc.explain()}") from None


def _timeline(cc: CallCentre, session: str) -> str:
    return "\n".join(str(e) for e in cc.client.transcript(session)) + "\n"


def _done(cc: CallCentre, session: str, action: str) -> None:
    entry = _entry(cc, session, "call.control", action=action, state="done")
    assert entry["by"], entry


def test_hold_mute_consult_complete_with_recording(call_centre: CallCentre) -> None:
    cc = call_centre
    _start(cc, ALICE, BOB)
    with (
        cc.sipp.phone(ALICE.port, "talk", ring=0.2, calls=1) as alice,
        cc.sipp.phone(BOB.port, "talk", ring=0.3, calls=1) as bob,
    ):
        cc.qualify("1001", "1002")
        cc.desktop_online("alice")  # bob is not routed to: only consulted
        cc.wait_phone("alice", "available")
        customer = cc.sipp.customer_call(
            "800", caller="5550201", hold=None, max_seconds=60, media=True
        )
        request = cc.request_for("5550201")
        session = request.session_id
        cc.wait_request(request.id, RequestState.ACCEPTED)
        _entry(cc, session, "call.bridged")
        started = _entry(cc, session, "call.recording", state="started")
        assert started["file"].startswith("booking/") and started["file"].endswith(".wav")

        _act(cc, session, "hold")
        _done(cc, session, "hold")
        wait_for("the customer on hold music", lambda: "MusicOnHold" in cc.live_channels())
        _act(cc, session, "resume")
        _done(cc, session, "resume")
        wait_for("the hold music stopped", lambda: "MusicOnHold" not in cc.live_channels())
        _act(cc, session, "mute")
        _done(cc, session, "mute")
        _act(cc, session, "unmute")
        _done(cc, session, "unmute")

        _act(cc, session, "consult", target_kind="agent", target="bob")
        _done(cc, session, "consult")
        _entry(cc, session, "call.consult", state="answered", target="bob")
        assert "MusicOnHold" in cc.live_channels()  # the customer waits meanwhile
        time.sleep(1)
        _act(cc, session, "complete")
        _done(cc, session, "complete")
        moved = _entry(cc, session, "call.transferred", to="agent", agent="bob")
        assert moved["previous"] == "alice"
        cc.wait_owner(session, "bob")
        assert alice.wait(20).ok  # alice's phone was hung up: she is off the call
        wait_for("the contact moved", lambda: cc.voice_load("alice") == 0)
        assert cc.voice_load("bob") == 1

        time.sleep(2)  # customer and bob talk
        _act(cc, session, "hangup", by="bob")
        customer_result = customer.wait(30)
        bob_result = bob.wait(20)
    assert customer_result.ok, customer_result.describe() + cc.explain()
    assert bob_result.ok, bob_result.describe()
    wait_for("bob free again", lambda: cc.voice_load("bob") == 0)
    ended = _entry(cc, session, "call.recording", state="ended")
    wav = cc.box.chroot_path(f"{RECORDINGS}/{ended['file']}")
    wait_for(f"the recording {wav}", wav.is_file)
    length = wait_for("a complete WAV", lambda: _wav_length(wav))
    # recorded from the first bridge to the customer's hang-up, with its audio frames
    assert length > 3, (length, ended)
    assert abs(length - ended["duration_s"]) < 1.5, (length, ended)


def _wav_length(path: Any) -> float | None:
    try:
        return wav_seconds(path)
    except (OSError, EOFError, ValueError):
        return None


def test_supervisor_listens_whispers_then_blind_transfer_to_a_number(
    call_centre: CallCentre,
) -> None:
    cc = call_centre
    _start(cc, ALICE)
    with (
        cc.sipp.phone(ALICE.port, "talk", ring=0.2, calls=1) as alice,
        cc.sipp.phone(SUPERVISOR_PORT, "talk", ring=0.2, calls=1) as supervisor,
        cc.sipp.customer_phone("talk", ring=0.3, talk=2.0, calls=1) as outside,
    ):
        cc.qualify("1001", "1009")
        cc.desktop_online("alice")
        cc.wait_phone("alice", "available")
        customer = cc.sipp.customer_call(
            "800", caller="5550202", hold=None, max_seconds=60, media=True
        )
        request = cc.request_for("5550202")
        session = request.session_id
        cc.wait_request(request.id, RequestState.ACCEPTED)
        _entry(cc, session, "call.bridged")

        listen = cc.client.run(control.supervise(cc.client.ops, session, "root", "listen"))
        assert listen.ok, listen.reason
        _entry(cc, session, "call.supervise", state="listening", supervisor="root")
        wait_for("ChanSpy on the agent leg", lambda: "ChanSpy" in cc.live_channels())
        assert cc.client.run(control.supervise(cc.client.ops, session, "root", "whisper")).ok
        _entry(cc, session, "call.supervise", state="mode", mode="whisper")
        assert cc.client.run(control.supervise(cc.client.ops, session, "root", "stop")).ok
        _entry(cc, session, "call.supervise", state="ended")
        assert supervisor.wait(20).ok

        _act(cc, session, "transfer", target_kind="number", target="5550999")
        _done(cc, session, "transfer")
        _entry(cc, session, "call.transferred", to="number", number="5550999")
        cc.wait_request(request.id, RequestState.CLOSED)
        outside_result = outside.wait(30)
        customer_result = customer.wait(30)
        alice_result = alice.wait(20)
    assert outside_result.ok, outside_result.describe() + cc.explain()
    assert customer_result.ok, customer_result.describe()
    assert alice_result.ok, alice_result.describe()
    invite = next(m for m in outside_result.messages if m.method == "INVITE")
    assert "sip:5550999@" in invite.first_line
    hangup = _entry(cc, session, "call.hangup", party="customer")
    assert hangup["state"] == "transferred"
    supervise = [e["state"] for e in cc.client.transcript(session) if e["type"] == "call.supervise"]
    assert supervise[0] == "requested" and "listening" in supervise and supervise[-1] == "ended"
