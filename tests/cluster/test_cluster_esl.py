"""The ESL bridge on a Redis Cluster: `python -m esl_bridge --domain D` with a
`redis+cluster://` URL, allocation workers of the domain, the fake FreeSWITCH: callers to
the entry point are connected to agents, and the domain's keys (its call book, command
stream and consumer group) are on the domain's master."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from redis_cluster import RedisCluster, domain_slot

HERE = Path(__file__).resolve().parent
for folder in (HERE.parent, HERE.parent / "fsbridge"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from freeswitch_fixture.phones import Answer  # noqa: E402
from freeswitch_fixture.server import FakeFreeSwitch  # noqa: E402
from fsbridge_harness import (  # noqa: E402
    STRATEGY,
    BridgeProcess,
    admin_config,
    rendered_dialplan,
    write_config,
)

from admin_config.model import load_admin_config  # noqa: E402
from router.client import RouterClient  # noqa: E402

pytestmark = [pytest.mark.redis, pytest.mark.slow]


def until(predicate: Callable[[], Any], what: str, timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_the_esl_bridge_connects_calls_on_a_cluster_domain(
    redis_cluster: RedisCluster, router_workers: Callable[..., Any], tmp_path: Path
) -> None:
    cluster, domain = redis_cluster, "voiceland"
    fs = FakeFreeSwitch()
    fs.start()
    bridge = None
    try:
        config_path = write_config(tmp_path, admin_config(fs.port))
        fs.calls.use_dialplan(rendered_dialplan(load_admin_config(config_path)))
        router = RouterClient.from_url(cluster.url, domain)
        router.load_strategy(STRATEGY)
        router_workers(domain)
        bridge = BridgeProcess(config_path, cluster.url, tmp_path / "bridge.log",
                               "--domain", domain).start()  # fmt: skip
        until(lambda: router.agent("anna") is not None, "the bridge to push its agents")
        for agent, endpoint in (("anna", "2001"), ("bert", "2002")):
            router.heartbeat(agent, source="desktop", ttl=3600)
            router.set_status(agent, "available")
            fs.calls.add_phone(endpoint, Answer(after=0.05))
            until(lambda a=agent: (s := router.agent(a)) is not None
                  and s.devices.get("sip") in ("available", "busy"),
                  f"{agent}'s phone registered")  # fmt: skip
        callers = []
        for i in range(4):
            callers.append(fs.calls.dial("800", f"+4930{i:07d}"))
            time.sleep(0.3)
        bridged = until(
            lambda: [c for c in callers if (leg := fs.calls.leg(c)) and leg.peer is not None],
            "a caller bridged to an agent",
        )
        assert bridged
        for c in callers:
            fs.calls.hangup(c)
        assert bridge.proc is not None and bridge.proc.poll() is None, "the bridge died"
        assert "Traceback" not in bridge.log.read_text(errors="replace")
        master = cluster.slot_owner(domain_slot(domain))
        assert router.redis.get_node_from_key(router.keys.pbx_commands("fs1")).port == master.port
        groups = router.redis.xinfo_groups(router.keys.pbx_commands("fs1"))
        assert any(g["name"] == "bridge" for g in groups)
        for other in cluster.primaries():
            if other is not master:
                assert int(other.ask("CLUSTER", "COUNTKEYSINSLOT", domain_slot(domain))) == 0
        router.close()
    finally:
        if bridge is not None:
            bridge.stop()
        fs.stop()
