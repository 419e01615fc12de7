"""Overload: far more callers at once than agents and than the bridge handles at a time.

Overload may slow routing down; it may not drop a caller, an offer or a state change on the
floor (seen on a real FreeSWITCH at 60-100 calls/s before: a capped Redis pool raised "Too
many connections" and parked callers were never filed). Afterwards every caller must have
been filed and served, and every agent must be free.
"""

from __future__ import annotations

import threading
import time

import pytest
from freeswitch_fixture.phones import Answer
from fsbridge_harness import Stack

from callflow.commands import BRIDGE_GROUP

pytestmark = pytest.mark.slow

CALLERS = 60


def test_a_burst_of_callers_is_filed_served_and_leaves_every_agent_free(stack: Stack) -> None:
    for agent in ("anna", "bert"):
        stack.agent_ready(agent, Answer(after=0.02))
    callers: list[str] = []
    stop = threading.Event()

    def hang_up_the_talkers() -> None:
        """Each customer hangs up a moment after reaching an agent."""
        while not stop.is_set():
            for caller in list(callers):
                leg = stack.calls.leg(caller)
                if leg is not None and leg.peer is not None and leg.state == "bridged":
                    stack.calls.hangup(caller)
            time.sleep(0.05)

    talker = threading.Thread(target=hang_up_the_talkers, daemon=True)
    talker.start()
    try:
        for i in range(CALLERS):  # as fast as the fake switch can place them
            callers.append(stack.calls.dial("800", f"+4932{i:06d}"))
        stack.wait(
            lambda: all(stack.calls.leg(c) is None for c in callers),
            "every caller to be served and gone",
            timeout=180,
        )
    finally:
        stop.set()
        talker.join(5)
    unfiled = [c for c in callers if stack.request_for_call(c) is None]
    assert not unfiled, f"{len(unfiled)} callers were never filed"
    stack.wait(
        lambda: all(stack.request_for_call(c).state.value == "closed" for c in callers),
        "every request closed",
        timeout=30,
    )
    served = {stack.request_for_call(c).agent for c in callers}
    assert served <= {"anna", "bert"}
    for agent in ("anna", "bert", "chris"):
        state = stack.router.agent(agent)
        assert state.load.get("voice", 0) == 0, f"{agent} is stuck busy: {state}"
        assert not stack.router.agent_offers(agent)
    stack.wait(lambda: stack.records() == 0, "the bridge to drop every call record")
    commands = stack.router.keys.pbx_commands("fs1")
    stack.wait(
        lambda: stack.router.redis.xpending(commands, BRIDGE_GROUP)["pending"] == 0,
        "every router command to be acknowledged (the leftovers' round trips)",
    )
    log = stack.bridge.log.read_text(errors="replace")
    assert " ERROR " not in log, log[-4000:]
