"""AmiConnection against the real sandbox Asterisk: one test per panoramisk workaround."""

from __future__ import annotations

import asyncio
import os
import signal
import warnings
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
from tcp_proxy import TcpProxy

from ami_bridge import events as ev
from ami_bridge.connection import AmiConnection, AmiSettings, EventStream
from ami_bridge.errors import AmiActionFailed, AmiLoginFailed, AmiUnavailable
from devstack import AsteriskSandbox, configs
from devstack.sipp import Sipp, agent_endpoint_config

pytestmark = pytest.mark.asterisk
E = TypeVar("E")


def settings(**overrides: Any) -> AmiSettings:
    base: dict[str, Any] = {
        "host": configs.AMI_HOST,
        "port": configs.AMI_PORT,
        "username": configs.AMI_USER,
        "secret": configs.AMI_SECRET,
        "action_timeout": 5.0,
        "ping_interval": 0.3,
        "ping_timeout": 0.5,
        "backoff_initial": 0.05,
        "backoff_max": 0.5,
    }
    base.update(overrides)
    return AmiSettings(**base)


async def next_of(
    stream: EventStream,
    kind: type[E],
    where: Callable[[E], bool] = lambda e: True,
    timeout: float = 10,
) -> E:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        event = await stream.get(max(0.01, deadline - loop.time()))
        if isinstance(event, kind) and where(event):
            return event


async def collect_until(
    stream: EventStream, kind: type[E], timeout: float = 10
) -> tuple[E, list[ev.Event]]:
    """Events up to and including the first of `kind`."""
    seen: list[ev.Event] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        event = await stream.get(max(0.01, deadline - loop.time()))
        seen.append(event)
        if isinstance(event, kind):
            return event, seen


def run(coro_fn: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(coro_fn())  # type: ignore[arg-type]


def test_connects_lists_and_closes(sandbox: AsteriskSandbox) -> None:
    async def body() -> None:
        conn = AmiConnection(settings())
        stream = conn.events()
        await conn.start()
        assert isinstance(await stream.get(1), ev.LinkUp)
        status = await conn.send_action({"Action": "CoreStatus"})
        assert status["Response"] == "Success"
        devices = await conn.list_action({"Action": "DeviceStateList"})
        assert all(isinstance(d, ev.DeviceStateChange) for d in devices)
        assert "PJSIP/customers" in {d.device for d in devices}
        channels = await conn.list_action({"Action": "CoreShowChannels"})
        assert channels == []
        await conn.close()
        with pytest.raises(AmiUnavailable):
            await conn.send_action({"Action": "Ping"})

    run(body)


def test_bad_secret_fails_at_once_with_a_clear_error(sandbox: AsteriskSandbox) -> None:
    async def body() -> None:
        conn = AmiConnection(settings(secret="wrong"))
        with pytest.raises(AmiLoginFailed, match=r"manager\.conf"):
            await conn.start(timeout=10)
        await conn.close()

    run(body)


def test_nothing_listening_is_unavailable_not_a_hang(sandbox: AsteriskSandbox) -> None:
    async def body() -> None:
        conn = AmiConnection(settings(port=1))
        with pytest.raises(AmiUnavailable, match="not up within"):
            await conn.start(timeout=0.5)
        await conn.close()

    run(body)


def test_action_error_is_an_exception(sandbox: AsteriskSandbox) -> None:
    async def body() -> None:
        conn = AmiConnection(settings())
        await conn.start()
        with pytest.raises(AmiActionFailed, match="Getvar"):
            await conn.send_action({"Action": "Getvar", "Channel": "PJSIP/nope-1", "Variable": "X"})
        await conn.close()

    run(body)


def test_originate_is_always_async_and_returns_before_the_call_ends(
    sandbox: AsteriskSandbox,
) -> None:
    """panoramisk: Originate without Async crashes the protocol; Async: no hangs."""
    sipp = Sipp(sandbox)

    async def body() -> None:
        conn = AmiConnection(settings())
        stream = conn.events()
        await conn.start()
        with sipp.customer_phone("no_answer", calls=1) as phone:
            # no Async header at all: the wrapper adds Async: true
            reply = await conn.send_action(
                {
                    "Action": "Originate",
                    "Channel": "PJSIP/5550300@customers",
                    "Context": "sandbox-test",
                    "Exten": "9991",
                    "Priority": "1",
                    "Timeout": "1500",
                    "ChannelId": "test-async-1",
                }
            )
            assert reply["Message"] == "Originate successfully queued"
            # the reply came while the phone was still ringing: the result follows
            ringing = await next_of(stream, ev.Newchannel, lambda e: e.uniqueid == "test-async-1")
            assert ringing.channel.startswith("PJSIP/customers-")
            result = await next_of(stream, ev.OriginateResponse)
            assert (result.reason, result.uniqueid) == (3, "test-async-1")  # 3 = no answer
            # the CANCEL follows the OriginateResponse: let the phone see it through
            assert (await asyncio.to_thread(phone.wait, 10)).count("CANCEL", "received") == 1
        assert await conn.send_action({"Action": "Ping"})  # the link survived
        await conn.close()

    run(body)
    sipp.stop_all()


def test_originate_helper_ties_the_response_to_its_action(sandbox: AsteriskSandbox) -> None:
    sipp = Sipp(sandbox)

    async def body() -> None:
        conn = AmiConnection(settings())
        stream = conn.events()
        await conn.start()
        with sipp.customer_phone("answer", ring=0.1, talk=0.3):
            queued = await conn.originate(
                "PJSIP/5550301@customers",
                context="sandbox-test",
                exten="9991",
                channel_id="test-leg-301",
                caller_id="Zoë 张 <5550301>",
                variables={"IMPLUS_SERVICE": "booking", "IMPLUS_USER": "u301"},
            )
            result = await next_of(
                stream, ev.OriginateResponse, lambda e: e.action_id == queued.action_id
            )
        assert result.answered
        assert result.uniqueid == "test-leg-301"
        assert result.caller_id_name == "Zoë 张"
        await conn.close()

    run(body)
    sipp.stop_all()


def test_single_response_actions_resolve_even_when_panoramisk_would_wait(
    sandbox: AsteriskSandbox,
) -> None:
    """panoramisk 1.4: QueueAdd ("Added interface to queue") never resolves."""
    sandbox.write_include("queues_implus.conf", "[test-queue]\nstrategy = ringall\n")
    sandbox.reload()

    async def body() -> None:
        conn = AmiConnection(settings())
        await conn.start()
        reply = await conn.send_action(
            {"Action": "QueueAdd", "Queue": "test-queue", "Interface": "PJSIP/1001"}
        )
        assert reply["Message"] == "Added interface to queue"
        await conn.send_action(
            {"Action": "QueueRemove", "Queue": "test-queue", "Interface": "PJSIP/1001"}
        )
        await conn.close()

    run(body)


def test_empty_list_reply_resolves(sandbox: AsteriskSandbox) -> None:
    """PJSIPShowContacts with no contacts answers Error: panoramisk would wait forever."""

    async def body() -> None:
        conn = AmiConnection(settings(action_timeout=2))
        await conn.start()
        assert await conn.list_action({"Action": "PJSIPShowContacts"}) == []
        await conn.close()

    run(body)


def test_half_open_link_is_detected_by_ping_and_reconnected(sandbox: AsteriskSandbox) -> None:
    """panoramisk never checks for Pong: a half-open TCP link goes unnoticed."""

    async def body() -> None:
        proxy = TcpProxy(configs.AMI_HOST, configs.AMI_PORT)
        await proxy.start()
        conn = AmiConnection(settings(port=proxy.port))
        stream = conn.events()
        await conn.start()
        await next_of(stream, ev.LinkUp)
        proxy.blackhole()
        waiting = asyncio.ensure_future(conn.send_action({"Action": "CoreStatus"}, timeout=30))
        down = await next_of(stream, ev.LinkDown, timeout=5)
        assert "Pong" in down.reason
        # the caller waiting on the dead link was failed, not left hanging
        with pytest.raises(AmiUnavailable):
            await asyncio.wait_for(waiting, 1)
        up = await next_of(stream, ev.LinkUp, timeout=5)
        assert up.generation == 2
        assert proxy.connections == 2
        assert (await conn.send_action({"Action": "CoreStatus"}))["Response"] == "Success"
        await conn.close()
        await proxy.close()

    run(body)


def test_utf8_split_across_reads_survives(sandbox: AsteriskSandbox) -> None:
    """panoramisk decodes each chunk with errors='ignore': split characters vanish."""
    sipp = Sipp(sandbox)

    async def body() -> None:
        proxy = TcpProxy(configs.AMI_HOST, configs.AMI_PORT)
        await proxy.start()
        proxy.trickle = True  # every byte its own read
        conn = AmiConnection(settings(port=proxy.port, ping_interval=30))
        stream = conn.events()
        await conn.start()
        with sipp.customer_phone("answer", ring=0, talk=0.2):
            await conn.originate(
                "PJSIP/5550302@customers",
                context="sandbox-test",
                exten="9991",
                channel_id="test-utf8",
                caller_id="Zoë Łukasz 张伟 <5550302>",
            )
            result = await next_of(stream, ev.OriginateResponse)
        assert result.uniqueid == "test-utf8"
        assert result.caller_id_name == "Zoë Łukasz 张伟"
        await conn.close()
        await proxy.close()

    run(body)
    sipp.stop_all()


def test_asterisk_killed_then_back_fails_waiters_reconnects_and_refilters(
    sandbox: AsteriskSandbox,
) -> None:
    """Reconnect with backoff; waiters fail with AmiUnavailable; filters are re-applied."""

    async def body() -> None:
        conn = AmiConnection(settings(filters=("!Event: VarSet",), action_timeout=30))
        stream = conn.events()
        await conn.start()
        await next_of(stream, ev.LinkUp)
        pid = sandbox.pid()
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)  # frozen: the action below gets no reply
        waiting = asyncio.ensure_future(conn.send_action({"Action": "CoreStatus"}))
        await asyncio.sleep(0.2)
        assert not waiting.done()
        await asyncio.to_thread(sandbox.kill)
        down = await next_of(stream, ev.LinkDown)
        with pytest.raises(AmiUnavailable):
            await asyncio.wait_for(waiting, 2)
        with pytest.raises(AmiUnavailable, match="down"):
            await conn.send_action({"Action": "Ping"})
        await asyncio.to_thread(sandbox.up)
        up = await next_of(stream, ev.LinkUp, timeout=20)
        assert (down.generation, up.generation) == (1, 2)
        # filters were re-applied on the new link: a call sets variables, no VarSet arrives
        await conn.originate("Local/9991@sandbox-test", application="Wait", data="0.2")
        _, seen = await collect_until(stream, ev.OriginateResponse)
        assert any(isinstance(e, ev.Newchannel) for e in seen)
        assert not [e for e in seen if isinstance(e, ev.VarSet)]
        await conn.close()

    run(body)


def test_clean_shutdown_event_drops_the_link(sandbox: AsteriskSandbox) -> None:
    async def body() -> None:
        conn = AmiConnection(settings())
        stream = conn.events()
        await conn.start()
        await asyncio.to_thread(sandbox.down)
        down = await next_of(stream, ev.LinkDown)
        assert "Shutdown" in down.reason or "closed" in down.reason
        await asyncio.to_thread(sandbox.up)
        await next_of(stream, ev.LinkUp, timeout=20)
        await conn.close()

    run(body)


def test_running_loop_is_passed_no_deprecation_warnings(sandbox: AsteriskSandbox) -> None:
    async def body() -> None:
        conn = AmiConnection(settings())
        await conn.start()
        await conn.send_action({"Action": "Ping"})
        await conn.close()

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run(body)
    assert [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)] == []


def test_list_actions_with_a_live_call(sandbox: AsteriskSandbox) -> None:
    sipp = Sipp(sandbox)
    sandbox.write_include("pjsip_implus.conf", agent_endpoint_config("1002"))
    sandbox.reload()

    async def body() -> None:
        conn = AmiConnection(settings())
        stream = conn.events()
        await conn.start()
        with sipp.phone(5072, "answer", talk=None) as phone:
            await asyncio.to_thread(sipp.register, "1002", 5072, 60)
            contacts = await conn.list_action({"Action": "PJSIPShowContacts"})
            assert [(type(c), c.endpoint, c.uri) for c in contacts] == [  # type: ignore[attr-defined]
                (ev.ContactList, "1002", "sip:1002@127.0.0.1:5072")
            ]
            aors = await conn.list_action({"Action": "PJSIPShowAors"})
            assert {a.object_name: a.contact_uris for a in aors} == {  # type: ignore[attr-defined]
                "1002": ["sip:1002@127.0.0.1:5072"],
                "customers": ["sip:127.0.0.2:5070"],
            }
            call = sipp.customer_call("9990", caller="5550303", hold=3)
            await next_of(stream, ev.UserEvent, lambda e: e.fields.get("Caller") == "5550303")
            channels = await conn.list_action({"Action": "CoreShowChannels"})
            assert [c.application for c in channels] == ["MusicOnHold"]
            assert channels[0].caller_id_num == "5550303"
            await asyncio.to_thread(call.wait, 20)
            phone.stop()
        await asyncio.to_thread(sipp.register, "1002", 5072, 0)
        await conn.close()

    run(body)
    sipp.stop_all()


def test_the_bridge_filters_pass_only_what_the_translator_reads(sandbox: AsteriskSandbox) -> None:
    """`translate.EVENT_FILTERS` (name filters, Asterisk 22's MatchCriteria): our own
    UserEvents and the named events come through; another UserEvent, HangupRequest's
    look-alikes and the events the bridge never reads (Newchannel, Newstate...) do not."""
    from ami_bridge.translate import EVENT_CLASSES, EVENT_FILTERS, EVENT_NAMES

    async def body() -> None:
        conn = AmiConnection(settings(filters=EVENT_FILTERS, event_mask=EVENT_CLASSES))
        stream = conn.events()
        await conn.start()
        await next_of(stream, ev.LinkUp)
        for name in ("OtherTest", "ImplusTest"):
            await conn.send_action({"Action": "UserEvent", "UserEvent": name, "Tag": "x"})
        user = await next_of(stream, ev.UserEvent)
        assert user.user_event == "ImplusTest"  # OtherTest, sent first, was filtered out
        await conn.originate("Local/9991@sandbox-test", application="Wait", data="0.2")
        _, seen = await collect_until(stream, ev.OriginateResponse)
        await asyncio.sleep(1.5)  # 9991 answers, waits 1 s and hangs up: its Hangup events
        while stream.pending():
            seen.append(await stream.get(1))
        names = {e.event for e in seen if isinstance(e, ev.AmiEvent)}
        assert "Hangup" in names
        assert names <= {*EVENT_NAMES, "UserEvent", "DeviceStateChange"}, names
        assert not [e for e in seen if isinstance(e, ev.UserEvent)]
        await conn.close()

    run(body)
