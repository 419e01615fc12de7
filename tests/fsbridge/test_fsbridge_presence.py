"""Agents' phones on FreeSWITCH -> the router's `sip` presence, through the bridge process:
registrations, calls the agent takes outside implus, a restart that reads `show
registrations`, and the agents of the admin config pushed at start."""

from __future__ import annotations

import time
from pathlib import Path

from freeswitch_fixture.phones import Answer
from fsbridge_harness import BridgeProcess, Stack

from router.model import AgentProfile


def device(stack: Stack, agent: str) -> str | None:
    state = stack.router.agent(agent)
    if state is None or state.leases.get("sip", 0) <= time.time() * 1000:
        return None
    return state.devices.get("sip")


def test_registration_and_calls_drive_the_phone_state(stack: Stack) -> None:
    stack.router.heartbeat("anna", source="desktop", ttl=300)
    stack.router.set_status("anna", "available")
    assert stack.router.agent("anna").devices.get("sip") in (None, "offline")
    stack.calls.add_phone("2001", Answer(after=0.01))  # REGISTER
    stack.wait(lambda: device(stack, "anna") == "available", "anna's phone available")

    # anna's phone is on a call nobody routed (she called someone): busy, no offers
    private = stack.calls.inbound_call("5555", "2001", caller_host="127.0.0.1:5064")
    stack.wait(lambda: device(stack, "anna") == "busy", "anna's phone busy")
    caller = stack.calls.dial("800", "+4932000001")
    request = stack.wait_request(caller, "queued")
    time.sleep(0.5)
    assert stack.router.request(request.id).state.value == "queued"  # not offered to anna
    stack.calls.hangup(private)
    stack.wait_request(caller, "accepted")  # her phone is free again: now she gets the call
    stack.calls.hangup(caller)

    stack.calls.unregister("2001")
    stack.wait(lambda: device(stack, "anna") == "offline", "anna's phone offline")
    assert stack.router.agent("anna").unavailable_reason(
        stack.router.request(request.id).channel, int(time.time() * 1000)
    ) in ("phone offline", "no sip presence")


def test_a_restarted_bridge_reads_the_registered_phones(stack: Stack) -> None:
    stack.calls.add_phone("2002", Answer())
    stack.wait(lambda: device(stack, "bert") == "available", "bert's phone available")
    stack.bridge.kill()
    stack.router.redis.hdel(stack.router.keys.agent("bert"), "lease:sip", "dev:sip")
    stack.start_bridge()  # no REGISTER arrives: `show registrations` says it is there
    stack.wait(lambda: device(stack, "bert") == "available", "bert's phone known again")
    assert device(stack, "anna") == "offline"


def test_agents_of_the_admin_config_are_pushed_unless_the_api_manages_them(stack: Stack) -> None:
    bert = stack.router.agent("bert")
    assert bert.profile == AgentProfile(
        id="bert",
        name="Bert",
        skills={"booking": 2, "billing": 2},
        capacity={"voice": 1, "chat": 3},
        blocks={"voice": ("chat",)},
        pbx="fs1",
        endpoint="2002",
    )
    # An agent the admin API created is dialled and watched by the bridge all the same.
    stack.router.upsert_agent(
        AgentProfile(id="zoe", skills={"booking": 9}, pbx="fs1", endpoint="2009")
    )
    stack.router.remove_agent("anna")
    stack.bridge.stop()
    args = stack.bridge.args
    stack.bridge = BridgeProcess(
        Path(args[args.index("--config") + 1]),
        args[args.index("--redis-url") + 1],
        stack.bridge.log,
        "--agents-from-api",
    )
    stack.start_bridge()
    assert stack.router.agent("anna") is None  # not pushed back
    stack.router.heartbeat("zoe", source="desktop", ttl=300)
    stack.router.set_status("zoe", "available")
    stack.calls.add_phone("2009", Answer(after=0.01))
    stack.wait(lambda: device(stack, "zoe") == "available", "zoe's phone available")
    caller = stack.calls.dial("800", "+4932000002")
    assert stack.wait_request(caller, "accepted").agent == "zoe"
    stack.wait(lambda: stack.calls.leg(caller).peer is not None, "the bridge to zoe")
    assert stack.calls.leg(caller).peer.number == "2009"
    stack.calls.hangup(caller)
