"""The bridge when things break: Asterisk restarted under it, the bridge killed mid-call.

After every reconnect or restart the bridge must rebuild from what Asterisk has NOW
(CoreShowChannels, DeviceStateList...) and repair the router - no stuck agents, no
requests left waiting for callers who are gone, and calls in progress picked up.
"""

from __future__ import annotations

import pytest
from callcentre import CallCentre, wait_for

from devstack.lab import LabAgent, LabEntry
from router.model import RequestState

pytestmark = pytest.mark.asterisk

ALICE = LabAgent("alice", "1001", 5081, {"booking": 1})
BOB = LabAgent("bob", "1002", 5082, {"booking": 1})
BOOKING = LabEntry("booking_en", "800", "booking")


def test_asterisk_restarted_during_a_call(call_centre: CallCentre) -> None:
    cc = call_centre
    cc.lab.agents = [BOB]
    cc.lab.entries = [BOOKING]
    cc.start()
    assert cc.bridge is not None
    bob = cc.sipp.phone(BOB.port, "answer", ring=0.2, calls=1, max_seconds=60)
    cc.qualify("1002")
    cc.desktop_online("bob")
    cc.wait_phone("bob", "available")
    talking = cc.sipp.customer_call("800", caller="5550201", hold=None, max_seconds=60)
    connected = cc.request_for("5550201")
    cc.wait_request(connected.id, RequestState.ACCEPTED)
    waiting = cc.sipp.customer_call("800", caller="5550202", hold=None, max_seconds=60)
    queued = cc.request_for("5550202")  # bob is busy: this caller waits

    # A crash and a restart: every channel is gone and no event about them ever comes
    # (a clean `core stop` would still send their Hangups).
    cc.box.kill()
    cc.box.up()

    wait_for("the bridge to reconnect", lambda: "link 2," in cc.bridge.text(), timeout=30)
    cc.wait_request(connected.id, RequestState.CLOSED)
    cc.wait_request(queued.id, RequestState.ABANDONED)
    wait_for("bob's slot to be free", lambda: cc.voice_load("bob") == 0)
    hangup = cc.entries(connected.session_id, "call.hangup")[-1]
    assert (hangup["party"], hangup["state"]) == ("customer", "connected")
    assert "not listening" in hangup["cause_txt"]
    for run in (bob, talking, waiting):
        run.stop()  # their calls died with the old Asterisk

    # The restarted PBX serves calls again through the same bridge.
    with cc.sipp.phone(BOB.port, "answer", ring=0.2, talk=1.0, calls=1) as bob_again:
        cc.qualify("1002")
        cc.wait_phone("bob", "available")
        again = cc.sipp.customer_call("800", caller="5550203", hold=None, max_seconds=30)
        assert again.wait(30).ok
        assert bob_again.wait(20).ok
    cc.wait_request(cc.request_for("5550203").id, RequestState.CLOSED)
    assert cc.bridge.proc is not None
    assert cc.bridge.proc.poll() is None  # the same process throughout


def test_bridge_killed_and_restarted_during_calls(call_centre: CallCentre) -> None:
    cc = call_centre
    cc.lab.agents = [ALICE, BOB]
    cc.lab.entries = [BOOKING]
    cc.start()
    assert cc.bridge is not None
    with (
        cc.sipp.phone(BOB.port, "answer", ring=0.2, talk=9.0, calls=1) as bob,
        cc.sipp.phone(ALICE.port, "answer", ring=0.2, talk=1.0, calls=1) as alice,
    ):
        cc.qualify("1001", "1002")
        cc.desktop_online("bob")
        cc.wait_phone("bob", "available")
        # A is talking to bob; C waits (alice is not logged in) when the bridge dies.
        call_a = cc.sipp.customer_call("800", caller="5550301", hold=None, max_seconds=40)
        a = cc.request_for("5550301")
        cc.wait_request(a.id, RequestState.ACCEPTED)
        call_c = cc.sipp.customer_call("800", caller="5550303", hold=2.5, max_seconds=30)
        c = cc.request_for("5550303")

        cc.bridge.kill()
        # While no bridge listens: B arrives and holds, C gives up, alice logs in.
        call_b = cc.sipp.customer_call("800", caller="5550302", hold=None, max_seconds=40)
        assert call_c.wait(20).ok
        cc.desktop_online("alice")

        cc.bridge.start()
        cc.wait_request(c.id, RequestState.ABANDONED)  # C's hang-up was repaired
        b = cc.request_for("5550302")  # B was found holding and filed
        assert b.call_id != a.call_id
        assert call_b.wait(30).ok  # ... routed to alice, answered, ended
        assert alice.wait(20).ok
        cc.wait_request(b.id, RequestState.CLOSED)
        cc.wait_owner(b.session_id, "alice")
        # A was picked up by the new bridge: its end completes the contact.
        assert call_a.wait(30).ok
        assert bob.wait(20).ok
    cc.wait_request(a.id, RequestState.CLOSED)
    assert cc.voice_load("bob") == 0
    hangup = cc.entries(a.session_id, "call.hangup")[-1]
    assert (hangup["party"], hangup["cause"]) == ("customer", "NORMAL_CLEARING")
    assert hangup["talk_s"] >= 8.0  # timed from the first bridge's answer
    assert "gone while the bridge" in cc.entries(c.session_id, "call.hangup")[-1]["cause_txt"]
    assert cc.bridge.starts == 2
