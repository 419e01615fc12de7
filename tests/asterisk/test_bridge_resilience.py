"""The bridge when Asterisk breaks under it: Asterisk restarted mid-call. (The bridge killed
and restarted mid-call is a shared scenario, tests/callflow/test_scenarios.py.)

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
