"""The FreeSWITCH side of one router for two PBXs: a caller on FreeSWITCH is given to an agent
whose phone is on the Asterisk PBX; the bridge rings that phone over the inter-PBX trunk
(admin_config.targets.agent_dial_string) and the fake switch plays the remote leg. The agent's
presence is what the AMI bridge would send (sip heartbeats), so the router cannot tell."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from freeswitch_fixture.phones import Answer
from freeswitch_fixture.server import FakeFreeSwitch
from fsbridge_harness import (
    PBX,
    STRATEGY,
    BridgeProcess,
    RouterThread,
    Stack,
    admin_config,
    rendered_dialplan,
    write_config,
)

from admin_config.model import load_admin_config
from router.client import RouterClient


def two_pbx_config(fs_port: int) -> dict:
    data = admin_config(fs_port)
    data["pbxs"][0]["sip_host"] = "127.0.0.3"
    data["pbxs"].append(
        {"id": "ast1", "kind": "asterisk", "secret_env": "X_AMI", "sip_host": "127.0.0.2"}
    )
    data["agents"].append(
        {"id": "alice", "name": "Alice", "pbx": "ast1", "endpoint": "1001",
         "password_env": "IMPLUS_TEST_SIP", "skills": {"booking": 9}}
    )  # fmt: skip
    data["trunks"].append({"id": "ast1_fs1", "kind": "inter_pbx", "pbxs": ["ast1", PBX]})
    return data


@pytest.fixture
def two_pbx(redis_url: str, tmp_path: Path) -> Iterator[Stack]:
    fs = FakeFreeSwitch().start()
    router = RouterClient.from_url(redis_url)
    worker = RouterThread(redis_url).start()
    config_path = write_config(tmp_path, two_pbx_config(fs.port))
    config = load_admin_config(config_path)
    fs.calls.use_dialplan(rendered_dialplan(config))
    router.load_strategy(STRATEGY)
    world = Stack(fs, router, config, BridgeProcess(config_path, redis_url, tmp_path / "log"))
    try:
        world.start_bridge()
        yield world
        assert world.bridge.alive()
    finally:
        world.bridge.stop()
        worker.stop()
        fs.stop()
        router.close()


def test_caller_on_freeswitch_reaches_an_agent_on_asterisk_over_the_trunk(two_pbx: Stack) -> None:
    stack = two_pbx
    # alice's phone registers on Asterisk: the AMI bridge reports it; this bridge must not
    # claim it (it is not on this switch).
    stack.router.heartbeat("alice", source="desktop", ttl=300)
    stack.router.heartbeat("alice", source="sip", ttl=300, device="available")
    stack.router.set_status("alice", "available")
    stack.calls.add_phone("1001", Answer(after=0.05), register=False)  # behind the trunk

    caller = stack.calls.dial("800", "+4933000001")
    request = stack.wait_request(caller, "accepted")
    assert request.agent == "alice"
    leg = stack.wait(lambda: stack.calls.leg(caller).peer, "the bridge over the trunk")
    assert leg.profile == "implus-trunk-ast1_fs1"  # rung as sofia/gateway/implus-trunk-.../1001
    assert leg.number == "1001"
    assert stack.router.agent("alice").devices["sip"] == "available"  # left to the AMI bridge
    stack.calls.hangup(caller)
    stack.wait_request(caller, "closed")
