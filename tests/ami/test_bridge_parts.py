"""The bridge's small parts without Asterisk: PBX commands, the call book (real Redis),
the per-call serial queues, caller ids, the bridge's settings."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from admin_config.model import load_admin_config
from ami_bridge.actors import Serial, Slots
from ami_bridge.errors import BridgeConfigError
from ami_bridge.filters import filter_action
from ami_bridge.pbx import caller_id
from ami_bridge.reconcile import leg_id
from ami_bridge.settings import settings_from_config
from ami_bridge.translate import EVENT_FILTERS, EVENT_NAMES

EXAMPLE = Path(__file__).parent.parent.parent / "examples" / "admin.yaml"


def test_caller_id_cannot_break_the_header() -> None:
    assert caller_id("Zoë 张伟", "5550402") == '"Zoë 张伟" <5550402>'
    assert caller_id('Evil"\r\nAction: Hangup', "555;x=1") == '"EvilAction: Hangup" <555x1>'
    assert caller_id("5550402", "5550402") == "<5550402>"
    assert caller_id("", "") == ""
    assert leg_id("abc") == "implus-abc"


def test_event_filters_let_through_what_the_translator_reads() -> None:
    """Name filters (a hash look-up in Asterisk, no regex over every event): every event
    the translator reads, our own UserEvents, PJSIP devices' states."""
    actions = [filter_action(f) for f in EVENT_FILTERS]
    names = {a["MatchCriteria"] for a in actions if "," not in a["MatchCriteria"]}
    assert names == {f"name({n})" for n in EVENT_NAMES}
    for name in ("Hangup", "HangupRequest", "BridgeEnter", "DialBegin", "DialEnd"):
        assert name in EVENT_NAMES
    assert "OriginateResponse" in EVENT_NAMES and "Shutdown" in EVENT_NAMES
    assert {
        "Action": "Filter",
        "Operation": "Add",
        "MatchCriteria": "name(UserEvent),header(UserEvent),method(starts_with)",
        "Filter": "Implus",
    } in actions
    assert {
        "Action": "Filter",
        "Operation": "Add",
        "MatchCriteria": "name(DeviceStateChange),header(Device),method(starts_with)",
        "Filter": "PJSIP/",
    } in actions
    # a plain regex filter (tests, other tools) still goes out as before
    assert filter_action("!Event: VarSet") == {
        "Action": "Filter",
        "Operation": "Add",
        "Filter": "!Event: VarSet",
    }


def test_slots_hand_a_released_slot_to_the_first_waiter() -> None:
    async def body() -> None:
        slots = Slots(2)
        order: list[str] = []

        async def holder(name: str, gate: asyncio.Event) -> None:
            await slots.acquire()
            order.append(name)
            await gate.wait()
            slots.release()

        gates = {n: asyncio.Event() for n in "abcde"}
        tasks = {n: asyncio.ensure_future(holder(n, g)) for n, g in gates.items()}
        await asyncio.sleep(0)
        assert order == ["a", "b"] and slots.waiting() == 3
        tasks["c"].cancel()  # a waiter that gives up is skipped, its turn is not lost
        await asyncio.sleep(0)
        gates["a"].set()
        await asyncio.sleep(0.01)
        assert order == ["a", "b", "d"]  # FIFO, never more than 2 at once
        gates["b"].set()
        gates["d"].set()
        await asyncio.sleep(0.01)
        assert order == ["a", "b", "d", "e"]
        gates["e"].set()
        await asyncio.gather(*(t for n, t in tasks.items() if n != "c"))
        assert slots.free == 2 and slots.waiting() == 0
        await slots.acquire()  # the fast path again
        assert slots.free == 1

    asyncio.run(body())


def test_slots_pass_on_a_slot_handed_to_a_waiter_cancelled_meanwhile() -> None:
    async def body() -> None:
        slots = Slots(1)
        await slots.acquire()
        first = asyncio.ensure_future(slots.acquire())
        second = asyncio.ensure_future(slots.acquire())
        await asyncio.sleep(0)
        slots.release()  # handed to `first`...
        first.cancel()  # ...which is cancelled before it runs: `second` gets the slot
        await asyncio.sleep(0)
        await asyncio.wait_for(second, 1)
        assert first.cancelled() and slots.free == 0
        slots.release()
        assert slots.free == 1

    asyncio.run(body())


def test_settings_from_the_admin_config() -> None:
    config = load_admin_config(EXAMPLE)
    env = {"IMPLUS_AST1_AMI_SECRET": "s3cret", "IMPLUS_REDIS_URL": "redis://127.0.0.1:7/1"}
    settings = settings_from_config(config, "ast1", env=env)
    assert (settings.ami.host, settings.ami.port, settings.ami.username) == (
        "127.0.0.1",
        5038,
        "implus",
    )
    assert settings.ami.secret == "s3cret"
    assert settings.redis_url == "redis://127.0.0.1:7/1"
    assert settings.ami.filters == EVENT_FILTERS
    assert settings.consumer_name == "ami-ast1"
    with pytest.raises(BridgeConfigError, match="IMPLUS_AST1_AMI_SECRET, which is not set"):
        settings_from_config(config, "ast1", env={})
    with pytest.raises(BridgeConfigError, match="is a freeswitch server"):
        settings_from_config(config, "fs1", env=env)
    with pytest.raises(BridgeConfigError, match=r"no PBX 'ast9'.*\(PBXs: ast1, fs1\)"):
        settings_from_config(config, "ast9", env=env)


def test_serial_keeps_order_per_call_and_runs_calls_concurrently() -> None:
    async def body() -> list[str]:
        serial = Serial()
        seen: list[str] = []
        gate = asyncio.Event()

        def job(name: str, wait: bool = False):  # type: ignore[no-untyped-def]
            async def run() -> None:
                if wait:
                    await gate.wait()
                seen.append(name)

            return run

        async def boom() -> None:
            raise RuntimeError("one bad call")

        a1 = serial.submit("a", job("a1", wait=True))  # a is blocked...
        serial.submit("a", job("a2"))
        failed = serial.submit("b", boom)
        serial.submit("b", job("b1"))  # ...b goes on, even after a failure
        await asyncio.sleep(0.01)
        assert seen == ["b1"]
        gate.set()
        await a1
        await serial.idle()
        assert isinstance(failed.exception(), RuntimeError)
        assert serial.busy() == 0
        return seen

    assert asyncio.run(body()) == ["b1", "a1", "a2"]


def test_a_consult_dial_that_ends_unanswered_is_a_failed_leg() -> None:
    """implus-consult's UserEvent after the agent's own Dial of a consult target: a leg
    that failed (even when no channel was made); after an answer, or a Dial the bridge
    ended (CANCEL), nothing (the leg's Hangup says it)."""
    from ami_bridge import events as ev
    from ami_bridge.translate import Translator
    from callflow import facts as f

    def consult_ended(status: str) -> list[f.Fact]:
        event = ev.UserEvent(
            uniqueid="17.2", user_event="ImplusConsultEnded", fields={"Status": status}
        )
        return Translator().feed(event)

    assert consult_ended("BUSY") == [f.LegFailed("", "busy", "USER_BUSY", by="17.2")]
    assert consult_ended("CHANUNAVAIL") == [
        f.LegFailed("", "unavailable", "SUBSCRIBER_ABSENT", by="17.2")
    ]
    assert consult_ended("ANSWER") == consult_ended("CANCEL") == []
