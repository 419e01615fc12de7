"""Overload on the real Asterisk: a burst of callers to two agents, far above what they can
take at once. Overload may slow routing down; it may not drop a caller, an offer or a state
change on the floor. Afterwards every caller was filed and served, every agent is free."""

from __future__ import annotations

import pytest
from callcentre import CallCentre, wait_for

from devstack.lab import LabAgent, LabEntry
from router.model import RequestState

pytestmark = [pytest.mark.asterisk, pytest.mark.slow]

ALICE = LabAgent("alice", "1001", 5081, {"booking": 1})
BOB = LabAgent("bob", "1002", 5082, {"booking": 1})
BOOKING = LabEntry("booking_en", "800", "booking")
CALLERS = 30


def test_a_burst_of_callers_is_filed_served_and_leaves_every_agent_free(
    call_centre: CallCentre,
) -> None:
    cc = call_centre
    cc.lab.agents = [ALICE, BOB]
    cc.lab.entries = [BOOKING]
    cc.start(offer_timeout=8)
    numbers = [f"55509{i:03d}" for i in range(CALLERS)]
    with (
        cc.sipp.phone(ALICE.port, "answer", ring=0.05, talk=0.3, calls=0) as alice,
        cc.sipp.phone(BOB.port, "answer", ring=0.05, talk=0.3, calls=0) as bob,
    ):
        cc.qualify("1001", "1002")
        cc.desktop_online("alice", "bob")
        cc.wait_phone("alice", "available")
        cc.wait_phone("bob", "available")
        customers = cc.sipp.customer_call(
            "800", caller=numbers, hold=None, calls=CALLERS, rate=30, limit=CALLERS,
            max_seconds=120,
        )  # fmt: skip
        result = customers.wait(150)
        served = alice.result().count("INVITE", "received") + bob.result().count(
            "INVITE", "received"
        )
    assert result.ok, result.describe() + cc.explain()
    assert served >= CALLERS
    requests = [cc.request_for(n) for n in numbers]  # every caller was filed
    for request in requests:
        cc.wait_request(request.id, RequestState.CLOSED, timeout=30)
    wait_for(
        "every agent free",
        lambda: all(cc.voice_load(a) == 0 and not cc.client.agent_offers(a) for a in ("alice",
                                                                                     "bob")),
        timeout=30,
    )  # fmt: skip
    wait_for(
        "the bridge to drop every call record",
        lambda: cc.client.redis.hlen(cc.client.keys.pbx_calls("sandbox")) == 0,
        timeout=30,
    )
    assert cc.bridge is not None
    assert " ERROR " not in cc.bridge.text(), cc.bridge.tail(80)
