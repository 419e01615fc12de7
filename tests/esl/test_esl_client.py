"""EslClient against the fake FreeSWITCH: login, commands, events, reconnection."""

from __future__ import annotations

import threading

import gevent
import pytest
from freeswitch_fixture.server import FakeFreeSwitch

from esl_bridge.errors import EslCommandFailed, EslConnectionLost, EslUnavailable
from esl_bridge.events import BackgroundJob, PresenceIn, Registration


def test_connects_subscribes_and_runs_api(start_client, fake_fs: FakeFreeSwitch) -> None:
    client, recorder = start_client()
    listener = fake_fs.wait_for_clients(1)[0]
    assert listener.commands[0] == "auth ClueCon"
    assert listener.commands[1] == (
        "event json CHANNEL_CREATE CHANNEL_PROGRESS CHANNEL_ANSWER CHANNEL_PARK CHANNEL_BRIDGE "
        "CHANNEL_UNBRIDGE CHANNEL_HANGUP CHANNEL_HANGUP_COMPLETE CHANNEL_DESTROY PRESENCE_IN "
        "BACKGROUND_JOB CUSTOM sofia::register sofia::unregister sofia::expire"
    )
    assert client.api("status").startswith("UP ")
    assert recorder.connected == 1


def test_api_errors_raise_command_failed(start_client, fake_fs: FakeFreeSwitch) -> None:
    client, _ = start_client()
    with pytest.raises(EslCommandFailed, match="nosuch Command not found"):
        client.api("nosuch thing")
    assert client.api("nosuch", check=False) == "-ERR nosuch Command not found!\n"
    with pytest.raises(EslCommandFailed, match="command not found"):
        client.command("frobnicate")


def test_bgapi_result_arrives_as_background_job(start_client, fake_fs: FakeFreeSwitch) -> None:
    fake_fs.api_handlers["echo"] = lambda arg: f"+OK {arg}\n"
    client, recorder = start_client()
    job = client.bgapi("echo hello world")
    result = job.wait(5)
    assert result.job_uuid == job.job_uuid
    assert result.body == "+OK hello world\n"
    assert result.ok
    assert result.result == "hello world"
    assert result.command == "echo"
    assert result.command_arg == "hello world"
    assert fake_fs.connected()[0].commands[-1] == "bgapi echo hello world"
    recorder.wait_for(lambda: any(isinstance(e, BackgroundJob) for e in recorder.events))


def test_an_api_and_a_bgapi_go_in_one_write_and_get_their_own_replies(
    start_client, fake_fs: FakeFreeSwitch
) -> None:
    fake_fs.api_handlers["echo"] = lambda arg: f"+OK {arg}\n"
    client, _ = start_client()
    listener = fake_fs.wait_for_clients(1)[0]
    output, job = client.api_then_bgapi("nosuch x", "echo bridged")
    assert output == "-ERR nosuch Command not found!\n"  # unchecked, as api(check=False)
    assert job.wait(5).body == "+OK bridged\n"
    assert listener.commands[-2:] == ["api nosuch x", "bgapi echo bridged"]
    assert client.api("status").startswith("UP ")  # the replies stayed paired


def test_failed_background_job_with_check(start_client, fake_fs: FakeFreeSwitch) -> None:
    fake_fs.api_handlers["originate"] = lambda arg: "-ERR USER_BUSY\n"
    client, _ = start_client()
    job = client.bgapi("originate user/1001 &park()")
    assert job.wait(5).result == "USER_BUSY"
    with pytest.raises(EslCommandFailed, match="USER_BUSY"):
        client.bgapi("originate user/1001 &park()").wait(5, check=True)


def test_registrations_and_presence_reach_the_handler(
    start_client, fake_fs: FakeFreeSwitch
) -> None:
    _, recorder = start_client()
    fake_fs.register("1001", "pbx.example", "127.0.0.1:5094")
    fake_fs.unregister("1001", "pbx.example", "127.0.0.1:5094")
    recorder.wait_for(lambda: len(recorder.events) >= 4, what="4 events")
    reg, pres_up, pres_down, unreg = recorder.events[:4]
    assert isinstance(reg, Registration)
    assert reg.registered
    assert (reg.user, reg.host, reg.network_port, reg.expires) == (
        "1001",
        "pbx.example",
        "5094",
        3600,
    )
    assert reg.contact == '"1001" <sip:1001@127.0.0.1:5094>'
    assert isinstance(pres_up, PresenceIn)
    assert pres_up.status == "Registered"
    assert pres_up.from_ == "1001@pbx.example"
    assert isinstance(pres_down, PresenceIn)
    assert pres_down.status == "Unregistered"
    assert isinstance(unreg, Registration)
    assert not unreg.registered
    assert unreg.subclass == "sofia::unregister"


def test_filters_are_applied_on_every_connection(start_client, fake_fs: FakeFreeSwitch) -> None:
    client, recorder = start_client(filters=(("from-user", "1002"),))
    fake_fs.register("1001")
    fake_fs.register("1002")
    recorder.wait_for(lambda: recorder.events, what="an event")
    gevent.sleep(0.1)
    assert [e.user for e in recorder.events if isinstance(e, Registration)] == ["1002"]
    fake_fs.drop_clients()
    recorder.wait_for(lambda: client.connections == 2 and client.connected, what="reconnection")
    listener = fake_fs.wait_for_clients(1)[0]
    assert listener.filters == [("from-user", "1002"), ("Event-Name", "BACKGROUND_JOB")]
    assert client.bgapi("status").wait(5).body.startswith("UP ")  # results pass the filters


def test_not_connected_raises_unavailable(make_client) -> None:
    client, _ = make_client()
    with pytest.raises(EslUnavailable, match="not connected"):
        client.api("status")


def test_unreachable_switch_is_retried_with_backoff(make_client, fake_fs: FakeFreeSwitch) -> None:
    fake_fs.accepting = False
    client, recorder = make_client()
    client.start()
    gevent.sleep(0.3)
    assert not client.connected
    assert isinstance(client.last_error, EslUnavailable)
    fake_fs.accepting = True
    assert client.wait_connected(5)
    assert recorder.connected == 1


def test_reconnects_after_a_drop_and_calls_on_connected_again(
    make_client, fake_fs: FakeFreeSwitch
) -> None:
    seen = []
    client, recorder = make_client(on_connected=lambda: seen.append(client.show_channels()))
    client.start()
    assert client.wait_connected(5)
    first = fake_fs.wait_for_clients(1)[0]
    fake_fs.drop_clients()
    recorder.wait_for(lambda: len(seen) == 2, what="second reconciliation")
    second = fake_fs.wait_for_clients(1)[0]
    assert second is not first
    assert seen == [[], []]
    assert len(recorder.disconnects) == 1
    assert isinstance(recorder.disconnects[0], EslConnectionLost)
    assert client.api("status").startswith("UP ")


def test_exit_from_the_server_side_is_a_reconnect(start_client, fake_fs: FakeFreeSwitch) -> None:
    client, recorder = start_client()
    client.command("exit")
    recorder.wait_for(lambda: recorder.connected == 2, what="reconnection after exit")
    assert "Disconnected, goodbye." in str(recorder.disconnects[0])


def test_stop_fails_waiting_jobs(start_client, fake_fs: FakeFreeSwitch) -> None:
    release = threading.Event()
    fake_fs.api_handlers["slow"] = lambda arg: (release.wait(5), "+OK\n")[1]
    client, _ = start_client()
    job = client.bgapi("slow")
    client.stop()
    release.set()
    with pytest.raises(EslUnavailable):
        job.wait(2)


def test_a_consumer_that_falls_behind_is_dropped_and_reconnects(
    start_client, fake_fs: FakeFreeSwitch
) -> None:
    """FreeSWITCH drops a listener whose queue is full and that lost more than 500 events."""
    release = threading.Event()
    fake_fs.api_handlers["slow"] = lambda arg: (release.wait(10), "+OK\n")[1]
    fake_fs.max_queue = 10
    client, recorder = start_client()
    waiting = gevent.spawn(client.api, "slow", timeout=5)
    gevent.sleep(0.1)  # the connection is busy: events queue up
    for n in range(10 + 501):
        fake_fs.fire(fake_fs.events.presence_in(f"u{n}", "pbx.example", "Registered"))
    release.set()
    with pytest.raises(EslConnectionLost):
        waiting.get(timeout=5)
    recorder.wait_for(lambda: recorder.connected == 2, what="reconnection")


def test_backoff_never_waits_longer_than_its_cap() -> None:
    """A restarted FreeSWITCH refuses connections for 7-10 s; a delay that had doubled to
    30 s reconnected up to 16 s late. Capped, the next try comes within 1.5 s."""
    import itertools
    import random

    from esl_bridge.client import EslSettings, backoff_delays

    settings = EslSettings()
    delays = list(
        itertools.islice(
            backoff_delays(settings.backoff_initial, settings.backoff_max, random.Random(7)), 40
        )
    )
    assert max(delays) <= settings.backoff_max <= 1.5
    assert min(delays[10:]) >= settings.backoff_max / 2  # not hammering a dead host either


def test_inline_events_reach_the_handler_in_order_from_the_reader(
    make_client, fake_fs: FakeFreeSwitch
) -> None:
    """`inline_events`: no dispatcher greenlet in between; the same events, in order, and a
    handler that fails does not stop the reading (nor do unsubscribed events arrive)."""
    client, recorder = make_client(inline_events=True)
    delivered_by: set[object] = set()
    seen = recorder.events.append

    def handler(event) -> None:
        delivered_by.add(gevent.getcurrent())
        if isinstance(event, PresenceIn) and event.status == "Registered":
            raise RuntimeError("a handler bug")
        seen(event)

    client.on_event = handler
    client.start()
    assert client.wait_connected(5)
    fake_fs.wait_for_clients(1)
    fake_fs.register("1001", "pbx.example", "127.0.0.1:5094")
    fake_fs.unregister("1001", "pbx.example", "127.0.0.1:5094")
    job = client.bgapi("status")
    assert job.wait(5).body.startswith("UP ")
    recorder.wait_for(lambda: len(recorder.events) >= 4, what="4 events")
    kinds = [type(e).__name__ for e in recorder.events]
    assert kinds == ["Registration", "PresenceIn", "Registration", "BackgroundJob"]
    assert recorder.events[2].subclass == "sofia::unregister"
    conn = client._conn
    assert conn is not None and delivered_by == {conn._receive_events_greenlet}
    assert conn._esl_event_queue.qsize() == 0


def test_a_bgapi_not_waited_for_leaves_every_reply_to_its_own_command(
    start_client, fake_fs: FakeFreeSwitch, caplog: pytest.LogCaptureFixture
) -> None:
    fake_fs.api_handlers["echo"] = lambda arg: f"+OK {arg}\n"
    client, recorder = start_client()
    job_uuid = client.bgapi_nowait("echo nobody waits")
    client._require().post("frobnicate")  # refused: logged when its reply comes
    assert client.api("status").startswith("UP ")  # its own reply, not theirs
    recorder.wait_for(
        lambda: any(
            isinstance(e, BackgroundJob) and e.job_uuid == job_uuid and e.ok
            for e in recorder.events
        )
    )
    assert "FreeSWITCH refused 'frobnicate'" in caplog.text
    assert fake_fs.connected()[0].commands[-3:] == [
        "bgapi echo nobody waits",
        "frobnicate",
        "api status",
    ]


def test_the_reader_waits_on_the_sockets_own_gevent_read_watcher() -> None:
    """EslConnection.receive_events waits with the socket's `_wait(_read_event)` after a
    read that emptied it (no EAGAIN read first); gevent's close cancels that wait. Pinned:
    without them the reader still works, one failed read more per wake."""
    import gevent.socket

    a, b = gevent.socket.socketpair()
    assert callable(getattr(b, "_wait", None)) and getattr(b, "_read_event", None) is not None
    waiter = gevent.spawn(b._wait, b._read_event)
    gevent.sleep(0.01)
    b.close()
    waiter.join(2)
    assert isinstance(waiter.exception, OSError)
    a.close()


def test_job_uuids_are_distinct_version_4_uuids() -> None:
    import uuid

    from esl_bridge.client import new_job_uuid

    ids = [new_job_uuid() for _ in range(1000)]
    assert len(set(ids)) == 1000
    for job in (ids[0], ids[-1]):
        parsed = uuid.UUID(job)
        assert str(parsed) == job and parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
