"""The bridge's small parts without Asterisk: PBX commands, the call book (real Redis),
the per-call serial queues, caller ids, the bridge's settings."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import redis.asyncio

from admin_config.model import load_admin_config
from ami_bridge import commands as cmd
from ami_bridge.actors import Serial
from ami_bridge.callbook import Call, CallBook, CallKind, CallState
from ami_bridge.errors import BadCommand, BridgeConfigError
from ami_bridge.pbx import caller_id, leg_id
from ami_bridge.settings import settings_from_config
from ami_bridge.translate import EVENT_FILTERS

EXAMPLE = Path(__file__).parent.parent.parent / "examples" / "admin.yaml"


def test_ring_agent_command_from_the_router_fields() -> None:
    command = cmd.parse_command(
        {
            "type": "ring_agent",
            "at": "1700000000123",
            "offer": "o1",
            "request": "r1",
            "session": "s1",
            "agent": "alice",
            "endpoint": "1001",
            "agent_pbx": "ast1",
            "call_id": "1700000000.12",
            "timeout": "19",
        }
    )
    assert command == cmd.RingAgent(
        offer="o1",
        request="r1",
        session="s1",
        agent="alice",
        endpoint="1001",
        agent_pbx="ast1",
        call_id="1700000000.12",
        timeout=19.0,
        at=1700000000123,
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"type": "dance"}, "unknown PBX command type 'dance'"),
        ({"type": "ring_agent", "offer": "o1"}, "missing request, agent, call_id"),
        (
            {"type": "overflow", "request": "r", "call_id": "1.2\r\nAction: Hangup"},
            "call_id='1.2\\r\\nAction: Hangup' has characters not allowed",
        ),
        (
            {"type": "click_to_call", "call": "c", "session": "s", "agent": "a", "number": "1,2"},
            "number='1,2' has characters not allowed",
        ),
        (
            {
                "type": "callback",
                "offer": "o",
                "request": "r",
                "agent": "a",
                "number": "5",
                "timeout": "soon",
            },
            "timeout must be a number",
        ),
    ],
)
def test_bad_commands_say_what_is_wrong(fields: dict[str, str], message: str) -> None:
    with pytest.raises(BadCommand) as info:
        cmd.parse_command(fields)
    assert message in str(info.value)


def test_caller_id_cannot_break_the_header() -> None:
    assert caller_id("Zoë 张伟", "5550402") == '"Zoë 张伟" <5550402>'
    assert caller_id('Evil"\r\nAction: Hangup', "555;x=1") == '"EvilAction: Hangup" <555x1>'
    assert caller_id("5550402", "5550402") == "<5550402>"
    assert caller_id("", "") == ""
    assert leg_id("abc") == "implus-abc"


def test_event_filters_let_through_what_the_translator_reads() -> None:
    (expression,) = EVENT_FILTERS
    for name in (
        "UserEvent",
        "Hangup",
        "BridgeEnter",
        "DialBegin",
        "DialEnd",
        "OriginateResponse",
        "DeviceStateChange",
    ):
        assert f"|{name}|" in expression.replace("(", "|").replace(")", "|")
    assert expression.endswith("[[:space:]]")  # `Hangup` must not match `HangupRequest`


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


def test_call_book_survives_a_restart(redis_url: str) -> None:
    async def body() -> None:
        client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
        book = CallBook(client, "implus:{t}:pbx:p:calls")
        call = Call(id="1.5", kind=CallKind.INBOUND, request="r", session="s", exten="800")
        await book.save(call)
        call.state, call.offer, call.leg, call.action = (
            CallState.RINGING,
            "o1",
            "implus-o1",
            "ring-o1",
        )
        await book.save(call)
        call.offer, call.leg, call.action = "o2", "implus-o2", "ring-o2"
        await book.save(call)
        # a later event of the first leg still finds the call; so does an Originate's reply
        assert book.find("implus-o1") is call
        assert book.find("implus-o2") is call
        assert book.by_action("ring-o2") is call
        out = Call(id="implus-c9", kind=CallKind.CLICK_TO_CALL, leg="implus-c9", number="555")
        await book.save(out)

        again = CallBook(client, "implus:{t}:pbx:p:calls")
        assert await again.load() == 2
        loaded = again.get("1.5")
        assert loaded == call
        assert again.find("implus-o2") == call
        assert again.get("implus-c9") == out

        await again.drop(loaded)  # type: ignore[arg-type]
        assert again.find("implus-o2") is None
        assert again.by_action("ring-o2") is None
        assert await client.hkeys("implus:{t}:pbx:p:calls") == ["implus-c9"]
        await client.hset("implus:{t}:pbx:p:calls", "junk", "{not json")
        third = CallBook(client, "implus:{t}:pbx:p:calls")
        assert await third.load() == 1  # the unreadable record is dropped, not fatal
        assert await client.hkeys("implus:{t}:pbx:p:calls") == ["implus-c9"]
        await client.aclose()

    asyncio.run(body())


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


def test_together_sends_ops_in_one_pipeline_in_order(redis_url: str) -> None:
    """The call book's write and a router operation share a round trip; the write runs
    first; a failing op (unknown session) does not hide the others."""
    from ami_bridge.batch import captured, step, together
    from router.client import AsyncRouterClient
    from router.errors import NotFound
    from router.ops import cmd

    async def body() -> None:
        client = AsyncRouterClient.from_url(redis_url)
        sub = client.ops.submit(channel="chat", service="booking", user_id="u1", request_id="r1")
        write = step(cmd("HSET", "book", "c1", "filed-first"))
        read = step(cmd("HGET", "book", "c1"))
        written, submitted, seen = await client.run(together(write, sub, read))
        assert written == 1
        assert submitted.request_id == "r1"
        assert seen == "filed-first"
        appended, missing = await client.run(
            together(
                captured(client.ops.append(submitted.session_id, {"type": "note", "text": "x"})),
                captured(client.ops.append("no-such-session", {"type": "note", "text": "y"})),
            )
        )
        assert not appended.duplicate
        assert isinstance(missing, NotFound)
        entries = await client.transcript(submitted.session_id)
        assert [e["text"] for e in entries if e["type"] == "note"] == ["x"]
        with pytest.raises(NotFound):
            await client.run(together(client.ops.append("no-such-session", {"type": "n"})))
        await client.close()

    asyncio.run(body())
