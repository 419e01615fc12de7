"""What ended flows leave (call records, transcript entries, command acknowledgements): it
waits `deferred_window` for its call's next router step, then every idle call's leftovers go
in ONE round trip, as that call's turn; a command whose acknowledgement waits stays in
flight (a re-read of the backlog meanwhile must not run it twice)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gevent
import pytest
from fsbridge_harness import ESL_PASSWORD, ESL_PASSWORD_ENV, admin_config, write_config

from admin_config.model import load_admin_config
from esl_bridge.bridge import EslBridge
from esl_bridge.settings import build_settings
from router.client import RouterClient
from router.ops import cmd


@pytest.fixture
def bridge(redis_url: str, tmp_path: Path) -> Any:
    config = load_admin_config(write_config(tmp_path, admin_config(1)))
    settings = build_settings(
        config,
        "fs1",
        redis_url=redis_url,
        env={ESL_PASSWORD_ENV: ESL_PASSWORD},
        deferred_window=0.05,
    )
    router = RouterClient.from_url(redis_url)
    b = EslBridge(settings, config, router)
    loop = gevent.spawn(b.leftovers.loop, b._stop)
    yield b
    b.stop()
    loop.kill()
    router.close()


def test_leftovers_of_idle_calls_go_in_one_round_trip(bridge: EslBridge) -> None:
    for call in ("c1", "c2", "c3"):
        bridge.leftovers.deferred.add(call, [cmd("RPUSH", f"left:{call}", "x")], [])
    gevent.sleep(0.02)
    assert bridge.batcher.round_trips == 0  # within the window: waiting for a next step
    with gevent.Timeout(2):
        while bridge.leftovers.deferred:
            gevent.sleep(0.01)
    assert bridge.batcher.round_trips == 1 and bridge.batcher.steps == 3
    assert [bridge.router.redis.llen(f"left:{c}") for c in ("c1", "c2", "c3")] == [1, 1, 1]


def test_a_busy_call_keeps_its_leftovers_for_its_own_turn(bridge: EslBridge) -> None:
    order: list[str] = []

    def busy_flow() -> None:
        gevent.sleep(0.15)  # longer than the window: the flush must not overtake it
        order.append("flow")

    bridge._calls.submit("c1", busy_flow)
    bridge.leftovers.deferred.add("c1", [cmd("RPUSH", "left:c1", "x")], [])
    with gevent.Timeout(2):
        while bridge.leftovers.deferred:
            if bridge.router.redis.llen("left:c1"):
                order.append("written")
            gevent.sleep(0.01)
    assert order[0] == "flow"
    assert bridge.router.redis.llen("left:c1") == 1


def test_a_command_stays_in_flight_until_its_acknowledgement_is_sent(
    bridge: EslBridge,
) -> None:
    bridge.leftovers.inflight.add("1-0")
    bridge.leftovers.ack_later("c1", "1-0", bridge.commands.ack_step("1-0"))
    assert "1-0" in bridge.leftovers.inflight
    with gevent.Timeout(2):
        while bridge.leftovers.deferred:
            gevent.sleep(0.01)
    assert "1-0" not in bridge.leftovers.inflight and not bridge.leftovers._acks


def test_an_events_facts_run_in_one_flow_each_at_its_turn(bridge: EslBridge) -> None:
    """(Not leftovers: the same bridge.) A CHANNEL_HANGUP tells two facts: one flow run
    for both, each asked whether it concerns a call when its turn comes; one that
    FreeSWITCH's link stopped does not stop the next."""
    from callflow import facts as f
    from callflow import intents as do
    from callflow.steps import Do

    ran: list[str] = []

    class Flow:
        def concerns(self, fact: Any) -> bool:
            return bool(fact.channel != "skipped")

        def fact(self, fact: Any) -> Any:
            ran.append(fact.channel)
            if fact.channel == "stopped":  # FreeSWITCH is not connected: PbxUnavailable
                yield Do(do.HangUp("leg-1"))

    bridge.flow = Flow()  # type: ignore[assignment]
    runs = []
    run_flow = bridge.run_flow
    bridge.run_flow = lambda flow, key: (runs.append(key), run_flow(flow, key))  # type: ignore[method-assign]
    bridge._run_facts([f.HangupRequested("a"), f.HangupRequested("b")], "k")
    assert ran == ["a", "b"] and len(runs) == 1
    ran.clear()
    facts = ["stopped", "skipped", "c"]
    bridge._run_facts([f.HangupRequested(c) for c in facts], "k")
    assert ran == ["stopped", "c"]
