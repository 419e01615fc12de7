"""The bridge catching up with FreeSWITCH: the ESL connection dropped mid-call (events lost
while it was down), and the bridge process killed and restarted mid-call."""

from __future__ import annotations

import threading
import time
from typing import Any

from freeswitch_fixture.phones import Answer, Ring
from fsbridge_harness import Stack


def connected_call(stack: Stack, number: str) -> tuple[str, str]:
    """A caller connected to anna: (caller uuid, agent leg uuid)."""
    stack.agent_ready("anna")
    caller = stack.calls.dial("800", number)
    stack.wait_request(caller, "accepted")
    agent_leg = stack.wait(lambda: stack.calls.leg(caller).peer, "the bridge").uuid
    return caller, agent_leg


def test_esl_drop_mid_call_caller_hangs_up_while_disconnected(stack: Stack) -> None:
    caller, agent_leg = connected_call(stack, "+4931000001")
    stack.fs.accepting = False  # FreeSWITCH unreachable for a moment
    stack.fs.drop_clients()
    stack.wait(lambda: stack.bridge_status().get("connected") == "0", "the bridge to notice")
    stack.calls.hangup(caller)  # nobody hears about it: no connection
    assert stack.calls.leg(agent_leg) is None
    stack.fs.accepting = True
    request = stack.wait_request(caller, "closed", timeout=15)  # reconciled after reconnecting
    assert int(stack.bridge_status()["connections"]) >= 2
    hangup = stack.call_entries(request.session_id, caller)[-1]
    assert (hangup["type"], hangup["party"], hangup["cause"]) == ("call.hangup", "customer",
                                                                 "UNKNOWN")  # fmt: skip
    stack.wait(
        lambda: stack.router.agent("anna").load.get("voice", 0) == 0, "anna to be free again"
    )


def test_esl_drop_while_ringing_agent_answers_meanwhile(stack: Stack) -> None:
    stack.agent_ready("anna", Answer(after=1.0))
    caller = stack.calls.dial("800", "+4931000002")
    stack.wait_request(caller, "offered")
    stack.wait(lambda: len(stack.calls.legs) == 2, "anna's phone to ring")
    stack.fs.accepting = False
    stack.fs.drop_clients()
    # anna answers while the bridge is disconnected: its leg parks, nobody bridges it
    agent_leg = next(u for u in stack.calls.legs if u != caller)
    stack.wait(lambda: stack.calls.leg(agent_leg).state == "parked", "anna's leg to park")
    stack.fs.accepting = True
    request = stack.wait_request(caller, "accepted", timeout=15)
    assert request.agent == "anna"
    stack.wait(lambda: stack.calls.leg(caller).peer is not None, "the bridge after reconnecting")
    stack.calls.hangup(agent_leg)  # anna hangs up first
    stack.wait_request(caller, "closed")
    hangup = stack.call_entries(request.session_id, caller)[-1]
    assert hangup["ended_by"] == "agent"


def test_esl_drop_while_ringing_agent_leg_fails_meanwhile(stack: Stack) -> None:
    stack.agent_ready("anna", Ring())
    stack.agent_ready("bert")
    caller = stack.calls.dial("800", "+4931000003")
    stack.wait(lambda: len(stack.calls.legs) == 2, "anna's phone to ring")
    anna_leg = next(u for u in stack.calls.legs if u != caller)
    stack.fs.accepting = False
    stack.fs.drop_clients()
    stack.calls.hangup(anna_leg, "USER_BUSY")  # the result is lost with the connection
    stack.fs.accepting = True
    request = stack.wait_request(caller, "accepted", timeout=15)
    assert request.agent == "bert"  # anna's offer failed at reconciliation; bert got it


def test_bridge_killed_caller_hangs_up_and_another_calls_while_it_is_down(stack: Stack) -> None:
    caller, _ = connected_call(stack, "+4931000005")
    stack.bridge.kill()
    stack.calls.hangup(caller)  # while no bridge runs
    newcomer = stack.calls.dial("800", "+4931000006")  # parks with nobody watching
    stack.start_bridge()
    stack.wait_request(caller, "closed")
    request = stack.wait_request(newcomer, "accepted")  # taken over from `show channels`
    assert request.agent == "anna"
    assert request.user_id == "+4931000006"
    stack.wait(lambda: stack.calls.leg(newcomer).peer is not None, "the newcomer's bridge")
    stack.calls.hangup(newcomer)
    stack.wait_request(newcomer, "closed")


def test_agent_leg_left_over_from_a_lost_offer_is_hung_up(stack: Stack) -> None:
    stack.agent_ready("anna", Answer(after=1.0))
    caller = stack.calls.dial("800", "+4931000007")
    stack.wait(lambda: len(stack.calls.legs) == 2, "anna's phone to ring")
    agent_leg = next(u for u in stack.calls.legs if u != caller)
    stack.bridge.kill()
    stack.router.redis.delete(stack.router.keys.pbx_calls("fs1"))  # the records are lost
    stack.wait(lambda: stack.calls.leg(agent_leg).state == "parked", "anna to answer")
    stack.start_bridge()
    # anna's answered leg belongs to nothing the bridge holds: hung up, not left in silence
    stack.wait(lambda: stack.calls.leg(agent_leg) is None, "the orphaned agent leg to end")
    # the caller is taken over and routed again; the request filed before is not left behind
    stack.wait(lambda: stack.calls.leg(caller).peer is not None, "the caller connected again")
    first, *_, last = stack.requests_for_call(caller)
    assert last.state.value == "accepted"
    stack.wait(
        lambda: stack.router.request(first.id).state.value == "abandoned",
        "the lost request to be cancelled, not offered forever",
    )


def test_caller_on_hold_music_is_taken_over_when_the_records_are_lost(stack: Stack) -> None:
    """A waiting caller hears its hold music through `uuid_broadcast`: a real FreeSWITCH then
    lists it with `application=playback`, not `park` (../shared/pbx/freeswitch/07-...). A
    bridge that lost its records must still take it over."""
    caller = stack.calls.dial("800", "+4931000009")  # nobody is available: it waits
    first = stack.wait_request(caller, "queued")
    stack.wait(lambda: stack.calls.broadcasts, "hold music")
    stack.bridge.kill()
    stack.router.redis.delete(stack.router.keys.pbx_calls("fs1"))  # the records are lost
    (row,) = [r for r in stack.calls.rows() if r["uuid"] == caller]
    assert (row["application"], row["application_data"]) == ("playback", "local_stream://moh")
    stack.start_bridge()
    stack.agent_ready("anna")
    request = stack.wait_request(caller, "accepted")  # taken over and routed to anna
    assert request.id != first.id
    assert request.agent == "anna"
    stack.wait(
        lambda: stack.router.request(first.id).state.value == "abandoned",
        "the request filed before to be cancelled",
    )
    stack.calls.hangup(caller)
    stack.wait_request(caller, "closed")


def test_bridge_reconnects_soon_after_a_long_outage(stack: Stack) -> None:
    """FreeSWITCH restarting refuses connections for 7-10 s; the bridge must be back within
    about a second of it answering again, not after a backoff grown during the outage."""
    import time

    stack.fs.accepting = False
    stack.fs.drop_clients()
    stack.wait(lambda: stack.bridge_status().get("connected") == "0", "the bridge to notice")
    time.sleep(8)  # a restart's worth of refused connections
    before = list(stack.fs.all_listeners)
    stack.fs.accepting = True
    back = time.monotonic()
    stack.wait(
        lambda: any(c.authed and c.events_enabled for c in stack.fs.connected() if c not in before),
        "the bridge to reconnect",
    )
    assert time.monotonic() - back < 3.0  # backoff capped at 1.5 s (+ connecting under load)


def test_periodic_pass_leaves_a_hang_up_whose_events_are_still_on_the_way(stack: Stack) -> None:
    """FreeSWITCH lists its channels from its channel table, and queues events: `show
    channels` may already miss the legs of a call whose hang-up events are not sent yet.
    A periodic pass must leave such a call to its events (who hung up, the real cause),
    even when its record is old (it was saved long before the hang-up)."""
    caller, agent_leg = connected_call(stack, "+4931000009")
    request = stack.wait_request(caller, "accepted")
    time.sleep(1.5)  # the record settles: older than a periodic pass's SETTLE_MS
    show, fire = stack.fs.api_handlers["show"], stack.fs.fire
    held: list[Any] = []
    armed = threading.Event()
    armed.set()

    def show_after_hang_up(arg: str | None) -> str:
        if armed.is_set() and (arg or "").startswith("channels"):
            armed.clear()
            stack.fs.fire = held.append  # type: ignore[method-assign]
            try:
                stack.calls.hangup(agent_leg)  # anna hangs up: her events queue up
            finally:
                del stack.fs.fire
            threading.Timer(0.5, lambda: [fire(e) for e in held]).start()
        return show(arg)

    stack.fs.api_handlers["show"] = show_after_hang_up
    stack.wait(lambda: not armed.is_set(), "a periodic pass")
    stack.wait_request(caller, "closed")
    hangups = [
        e for e in stack.call_entries(request.session_id, caller) if e["type"] == "call.hangup"
    ]
    assert {(e["party"], e["ended_by"], e["cause"]) for e in hangups} == {
        ("customer", "agent", "NORMAL_CLEARING"),
        ("agent", "agent", "NORMAL_CLEARING"),
    }, hangups
