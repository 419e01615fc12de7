"""greenswitch 0.0.19's bugs, each shown on the stock library and pinned on our wrapper.

For every bug there are two tests:
- `test_stock_*` runs greenswitch's own code (its parser, or a stock InboundESL against the
  fake FreeSWITCH) and shows the bug is there - if one of these starts failing after a
  greenswitch upgrade, the workaround may be obsolete;
- `test_ours_*` runs the same situation through esl_bridge and fails without the workaround.
"""

from __future__ import annotations

import contextlib
import inspect
import threading
from collections.abc import Iterator

import gevent
import pytest
from freeswitch_fixture.events import FsEvent
from freeswitch_fixture.server import FakeFreeSwitch
from freeswitch_fixture.transcripts import load
from greenswitch.esl import ESLEvent, InboundESL, NotConnectedError

from esl_bridge.client import EslSettings
from esl_bridge.errors import EslConnectionLost, EslTimeout
from esl_bridge.events import BackgroundJob, ChannelEvent, Registration

# -- helpers -----------------------------------------------------------------------------


@contextlib.contextmanager
def stock_greenswitch(fs: FakeFreeSwitch) -> Iterator[InboundESL]:
    """A stock greenswitch InboundESL logged in to the fake switch, torn down afterwards."""
    esl = InboundESL("127.0.0.1", fs.port, "ClueCon")
    esl.connect()
    try:
        yield esl
    finally:
        esl._run = False
        with contextlib.suppress(Exception):
            esl.sock.close()
        greenlets = [g for g in (esl._receive_events_greenlet, esl._process_events_greenlet) if g]
        gevent.killall(greenlets, timeout=2)
        esl.sock_file.close()


def blocking_api(fs: FakeFreeSwitch, name: str = "slow") -> threading.Event:
    """An API command that holds its connection until the returned event is set."""
    release = threading.Event()
    fs.api_handlers[name] = lambda arg: (release.wait(10), "+OK done\n")[1]
    return release


def recorded_background_job() -> tuple[str, str]:
    """The envelope and body of the BACKGROUND_JOB recorded in 05-originate-no-answer."""
    raw = load("05-originate-no-answer").received
    start = raw.index(b"Content-Length: 672\n")
    envelope, _, body = raw[start:].partition(b"\n\n")
    return envelope.decode(), body.decode()


def recorded_json_park() -> bytes:
    raw = load("06-inbound-call-json").received
    start = raw.index(b"Content-Length: 5592\n")
    return raw[
        start : start + len(b"Content-Length: 5592\nContent-Type: text/event-json\n\n") + 5592
    ]


# -- 1. BACKGROUND_JOB body inside the Content-Length value ---------------------------------------


def test_stock_background_job_body_lands_in_content_length() -> None:
    envelope, body = recorded_background_job()
    event = ESLEvent(envelope)  # greenswitch's handle_event: ESLEvent(headers) ...
    event.parse_data(body)  # ... then parse_data(body) for text/event-plain
    assert event.headers["Content-Length"] == "30\n\n-ERR NORMAL_TEMPORARY_FAILURE"
    assert not hasattr(event, "data")


def test_ours_background_job_body_is_the_result(start_client, fake_fs: FakeFreeSwitch) -> None:
    fake_fs.api_handlers["originate"] = lambda arg: "-ERR NORMAL_TEMPORARY_FAILURE\n"
    client, _ = start_client()
    job = client.bgapi("originate {originate_timeout=3}user/1002 &park()").wait(5)
    assert isinstance(job, BackgroundJob)
    assert job.body == "-ERR NORMAL_TEMPORARY_FAILURE\n"
    assert job.result == "NORMAL_TEMPORARY_FAILURE"


# -- 2. URL-decoding before splitting lines: an encoded newline forges headers -------------------


def test_stock_encoded_newline_forges_a_header() -> None:
    event = ESLEvent(
        "Event-Name: CHANNEL_PARK\nUnique-ID: real\n"
        "Caller-Caller-ID-Name: Mallory%0AUnique-ID: forged%0Avariable_implus_service: vip\n"
    )
    assert event.headers["Unique-ID"] == "forged"
    assert event.headers["variable_implus_service"] == "vip"


def test_ours_encoded_newline_stays_in_its_value(start_client, fake_fs: FakeFreeSwitch) -> None:
    _, recorder = start_client()
    headers = (
        *fake_fs.events.prefix("CHANNEL_PARK", "switch_ivr.c", "switch_ivr_park", 1002),
        ("Unique-ID", "real-uuid"),
        ("Caller-Caller-ID-Name", "Mallory\nUnique-ID: forged\nvariable_implus_service: vip"),
        ("variable_implus_service", "booking"),
    )
    fake_fs.fire(FsEvent("CHANNEL_PARK", headers))
    recorder.wait_for(lambda: recorder.events, what="the park event")
    (park,) = recorder.events
    assert isinstance(park, ChannelEvent)
    assert park.unique_id == "real-uuid"
    assert park.caller_id_name == "Mallory\nUnique-ID: forged\nvariable_implus_service: vip"
    assert park.variable("implus_service") == "booking"


# -- 3. `event json` mis-parsed (the stock reader dies on it) ------------------------------------


def test_stock_reader_dies_on_a_json_event(fake_fs: FakeFreeSwitch) -> None:
    with stock_greenswitch(fake_fs) as esl:
        esl.send("event json CHANNEL_PARK")
        fake_fs.inject(recorded_json_park())
        esl._receive_events_greenlet.join(5)
        assert esl._receive_events_greenlet.dead
        assert isinstance(esl._receive_events_greenlet.exception, AttributeError)
        assert esl.connected  # ... and nobody is told


def test_ours_subscribes_json_and_reads_json(start_client, fake_fs: FakeFreeSwitch) -> None:
    assert EslSettings().subscription().startswith("event json ")
    assert EslSettings(event_format="plain").subscription().startswith("event plain ")
    client, recorder = start_client()
    fake_fs.inject(recorded_json_park())
    recorder.wait_for(lambda: recorder.events, what="the json park event")
    (park,) = recorder.events
    assert isinstance(park, ChannelEvent)
    assert park.unique_id == "401d0295-6e8b-4bba-b9c2-e7c00b285453"
    assert park.variable("service") == "booking"
    assert client.api("status").startswith("UP ")


# -- 4. A handler registered as 'CUSTOM' never fires --------------------------------------------


def test_stock_custom_handler_never_fires(fake_fs: FakeFreeSwitch) -> None:
    by_name, by_subclass = [], []
    with stock_greenswitch(fake_fs) as esl:
        esl.register_handle("CUSTOM", by_name.append)
        esl.register_handle("sofia::register", by_subclass.append)
        esl.send("event plain CUSTOM sofia::register")
        fake_fs.register("1001")
        with gevent.Timeout(5):
            while not by_subclass:
                gevent.sleep(0.01)
        gevent.sleep(0.2)
    assert by_name == []
    assert by_subclass[0].headers["Event-Subclass"] == "sofia::register"


def test_ours_custom_events_are_delivered(start_client, fake_fs: FakeFreeSwitch) -> None:
    _, recorder = start_client(events=("CUSTOM",), custom_subclasses=("sofia::register",))
    fake_fs.register("1001")
    recorder.wait_for(lambda: recorder.events, what="the registration")
    assert isinstance(recorder.events[0], Registration)
    assert recorder.events[0].user == "1001"


# -- 5. A duplicated Content-Length crashes the reader -------------------------------------------

CONFLICTING_LENGTHS = (
    b"Content-Length: 23\nContent-Type: text/event-plain\nContent-Length: 5\n\n"
    b"Event-Name: HEARTBEAT\n\n"
)


def test_stock_reader_dies_on_conflicting_content_lengths(fake_fs: FakeFreeSwitch) -> None:
    with stock_greenswitch(fake_fs) as esl:
        esl.send("event plain HEARTBEAT")
        fake_fs.inject(CONFLICTING_LENGTHS)
        esl._receive_events_greenlet.join(5)
        assert esl._receive_events_greenlet.dead
        assert esl.connected
        with pytest.raises(gevent.Timeout), gevent.Timeout(0.5):
            esl.send("api status")  # waits forever for a reader that is gone


def test_ours_conflicting_content_lengths_reset_the_connection(
    start_client, fake_fs: FakeFreeSwitch
) -> None:
    client, recorder = start_client()
    release = blocking_api(fake_fs)
    waiting = gevent.spawn(client.api, "slow")
    gevent.sleep(0.1)
    fake_fs.inject(CONFLICTING_LENGTHS, now=True)  # arrives before the api's answer
    with pytest.raises(EslConnectionLost, match="Content-Length 23 and 5"):
        waiting.get(timeout=5)
    release.set()
    recorder.wait_for(lambda: recorder.connected == 2, what="reconnection")
    assert client.api("status").startswith("UP ")


def test_ours_unsolicited_reply_resets_instead_of_crashing(
    start_client, fake_fs: FakeFreeSwitch
) -> None:
    _, recorder = start_client()
    fake_fs.inject(b"Content-Type: api/response\nContent-Length: 4\n\n+OK\n")
    recorder.wait_for(lambda: recorder.connected == 2, what="reconnection")
    assert "no command was waiting" in str(recorder.disconnects[0])


# -- 6. send() has no timeout ---------------------------------------------------------------------


def test_stock_send_has_no_timeout(fake_fs: FakeFreeSwitch) -> None:
    assert list(inspect.signature(InboundESL.send).parameters) == ["self", "data"]
    release = blocking_api(fake_fs)
    with stock_greenswitch(fake_fs) as esl:
        with pytest.raises(gevent.Timeout), gevent.Timeout(0.5):
            esl.send("api slow")
        release.set()


def test_ours_send_times_out_and_reconnects(start_client, fake_fs: FakeFreeSwitch) -> None:
    release = blocking_api(fake_fs)
    client, recorder = start_client()
    with pytest.raises(EslTimeout, match=r"did not answer 'api slow' within 0\.3 s"):
        client.api("slow", timeout=0.3)
    release.set()
    recorder.wait_for(lambda: recorder.connected == 2, what="reconnection")
    assert client.api("status").startswith("UP ")


# -- 7. No reconnect ------------------------------------------------------------------------------


def test_stock_stays_disconnected(fake_fs: FakeFreeSwitch) -> None:
    with stock_greenswitch(fake_fs) as esl:
        fake_fs.wait_for_clients(1, subscribed=False)
        fake_fs.drop_clients()
        esl._receive_events_greenlet.join(5)
        gevent.sleep(0.3)
        assert not esl.connected
        assert fake_fs.connected() == []
        with pytest.raises(NotConnectedError):
            esl.send("api status")


def test_ours_reconnects_with_a_new_connection(start_client, fake_fs: FakeFreeSwitch) -> None:
    client, recorder = start_client()
    first = client._conn
    fake_fs.wait_for_clients(1)
    fake_fs.drop_clients()
    recorder.wait_for(lambda: recorder.connected == 2 and client.connected, what="reconnection")
    assert client._conn is not first
    fake_fs.wait_for_clients(1)
    fake_fs.register("1001")
    recorder.wait_for(lambda: recorder.events, what="an event after reconnecting")


# -- 8. Waiting commands are never released when the connection drops ----------------------------


def test_stock_waiting_command_is_never_released(fake_fs: FakeFreeSwitch) -> None:
    release = blocking_api(fake_fs)
    with stock_greenswitch(fake_fs) as esl:
        waiting = gevent.spawn(esl.send, "api slow")
        gevent.sleep(0.1)
        fake_fs.drop_clients()
        esl._receive_events_greenlet.join(5)
        assert not esl.connected
        waiting.join(0.5)
        assert not waiting.dead  # still waiting, forever
        waiting.kill()
    release.set()


def test_ours_waiting_command_fails_when_the_connection_drops(
    start_client, fake_fs: FakeFreeSwitch
) -> None:
    release = blocking_api(fake_fs)
    client, _ = start_client()
    waiting = gevent.spawn(client.api, "slow")
    job_release = blocking_api(fake_fs, "slowjob")
    job = client.bgapi("slowjob")
    gevent.sleep(0.1)
    fake_fs.drop_clients()
    with pytest.raises(EslConnectionLost, match="outcome is unknown"):
        waiting.get(timeout=5)
    with pytest.raises(EslConnectionLost, match="outcome is unknown"):
        job.wait(5)
    release.set()
    job_release.set()
