"""What the bridge queues for an AMI fact, without Asterisk (real Redis): facts that change
nothing are dropped before a job is made; everything else is queued in its call's order."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from admin_config.model import load_admin_config
from ami_bridge.bridge import AmiBridge
from ami_bridge.settings import settings_from_config
from callflow import facts as f
from callflow.flow import CallFlow
from callflow.records import Call, CallKind, CallState
from router.client import AsyncRouterClient

EXAMPLE = Path(__file__).parent.parent.parent / "examples" / "admin.yaml"

pytestmark = [pytest.mark.redis]


def _call(call_id: str, agent: str = "", leg: str = "") -> Call:
    return Call(
        id=call_id,
        kind=CallKind.INBOUND,
        channel=f"PJSIP/customers-{call_id}",
        request=f"r-{call_id}",
        service="booking",
        state=CallState.RINGING if agent else CallState.WAITING,
        agent=agent,
        offer=f"o-{call_id}" if agent else "",
        leg=leg,
    )


def test_concerns_is_what_fact_would_act_on() -> None:
    config = load_admin_config(EXAMPLE)
    settings = settings_from_config(config, "ast1", env={"IMPLUS_AST1_AMI_SECRET": "x"})
    bridge = AmiBridge(settings, config, router=AsyncRouterClient.from_url("redis://127.0.0.1:1"))
    flow: CallFlow = bridge.flow
    bridge.book.save_step(_call("c1", agent="alice", leg="L1"), 0)
    assert flow.concerns(f.CallerArrived(call_id="new", service="booking", entry="e"))
    assert flow.concerns(f.LegAnswered("implus-o9"))  # an orphan placed leg: hung up
    assert flow.concerns(f.ChannelGone("c1")) and flow.concerns(f.ChannelGone("L1"))
    assert flow.concerns(f.LegRinging(by="c1", leg="L2"))
    for fact in (
        f.ChannelGone("stranger"),
        f.HangupRequested("stranger"),
        f.Bridged("stranger"),
        f.LegRinging(by="stranger", leg="L9"),
        f.LegAnswered("L9", by="stranger"),
        f.LegFailed("", "busy", "USER_BUSY", by="stranger"),
        f.DialplanOverflow("stranger"),
    ):
        assert not flow.concerns(fact), fact
        assert list(flow.fact(fact)) == []  # and fact() indeed does nothing with it


def test_dispatch_drops_what_changes_nothing_and_queues_the_rest(redis_url: str) -> None:
    config = load_admin_config(EXAMPLE)
    settings = settings_from_config(config, "ast1", env={"IMPLUS_AST1_AMI_SECRET": "x"})

    async def body() -> None:
        router = AsyncRouterClient.from_url(redis_url)
        bridge = AmiBridge(settings, config, router=router)
        ran: list[object] = []

        async def noted(flow: object, key: str) -> None:
            ran.append(key)

        bridge.run_flow = noted  # type: ignore[method-assign]
        bridge.presence.learn_agents({"1001": "alice", "1002": "bob"})
        bridge.presence.state.update(alice="available", bob="available")
        serial = bridge.serial

        # a phone state the router already has, a phone that is no agent's: nothing queued
        bridge.dispatch(f.DeviceChanged("1001", "available"))
        bridge.dispatch(f.DeviceChanged("customers", "busy"))
        assert serial.busy() == 0
        # alice rung by one of our calls: her phone turning busy is not news either
        bridge.book.save_step(_call("c1", agent="alice"), 0)
        bridge.dispatch(f.DeviceChanged("1001", "busy"))
        assert serial.busy() == 0
        # bob's phone busy on a call that is not ours: queued and reported
        bridge.dispatch(f.DeviceChanged("1002", "busy"))
        assert serial.queued("device:1002")
        # events of a call this bridge does not hold: dropped; of its own calls: queued
        bridge.dispatch(f.ChannelGone("stranger"))
        bridge.dispatch(f.Bridged("stranger"))
        assert not serial.queued("stranger")
        bridge.dispatch(f.ChannelGone("c1"))
        assert serial.queued("c1")
        # a caller arriving is queued; an event of it queued behind it is kept, in order
        bridge.dispatch(f.CallerArrived(call_id="c2", service="booking", entry="e"))
        bridge.dispatch(f.ChannelGone("c2"))
        await serial.idle()
        assert ran == ["c1", "c2", "c2"]
        # the report of bob's busy phone went to the router (his profile is unknown there:
        # the router said so and the bridge kept his state)
        assert bridge.presence.state["bob"] == "busy"
        # once nothing is queued for a channel, its stray events are dropped again
        bridge.dispatch(f.HangupRequested("c2"))
        assert not serial.queued("c2")
        await bridge.router.close()

    asyncio.run(body())
