"""The fake FreeSWITCH's call model, driven through EslClient as the bridge will drive it:
entry-point calls, agent-first originate with each phone behaviour, uuid_bridge, hang-ups
with causes, uuid_kill, registrations, and a connection dropped mid-call then reconciled
from `show channels as json`."""

from __future__ import annotations

import re
import uuid

import pytest
from freeswitch_fixture.phones import Answer, Busy, Reject, Ring, Unreachable
from freeswitch_fixture.server import FakeFreeSwitch

from esl_bridge.client import DEFAULT_EVENTS
from esl_bridge.errors import EslCommandFailed
from esl_bridge.events import BackgroundJob, ChannelEvent, Registration

# What the generated entry extension sets, in its order (docs/call-flow.md): implus_entry is
# the entry point's id, not the number dialled (800).
ENTRY_VARIABLES = {
    "implus_user": "+4930123456",
    "implus_service": "booking",
    "implus_entry": "booking_fs",
    "implus_language": "en",
    "default_language": "en",
    "implus_max_wait": "300",
    "implus_hold_music": "local_stream://moh",
}


def channel_events(recorder, uuid_: str | None = None) -> list[ChannelEvent]:
    return [
        e
        for e in recorder.events
        if isinstance(e, ChannelEvent) and (uuid_ is None or e.unique_id == uuid_)
    ]


def names(recorder, uuid_: str) -> list[str]:
    return [e.name for e in channel_events(recorder, uuid_)]


def wait_for_event(recorder, name: str, uuid_: str) -> ChannelEvent:
    recorder.wait_for(lambda: name in names(recorder, uuid_), what=f"{name} of {uuid_}")
    return next(e for e in channel_events(recorder, uuid_) if e.name == name)


def test_entry_point_call_is_parked_with_its_variables(
    start_client, fake_fs: FakeFreeSwitch
) -> None:
    client, recorder = start_client()
    caller = fake_fs.calls.inbound_call(
        "800", "+4930123456", caller_name="Ada Lovelace", variables=ENTRY_VARIABLES
    )
    park = wait_for_event(recorder, "CHANNEL_PARK", caller)
    assert names(recorder, caller) == ["CHANNEL_CREATE", "CHANNEL_ANSWER", "CHANNEL_PARK"]
    assert park.direction == "inbound"
    assert park.caller_id_number == "+4930123456"
    assert park.caller_id_name == "Ada Lovelace"
    assert park.destination_number == "800"
    assert park.channel_name == "sofia/internal/+4930123456@127.0.0.1:5066"
    assert {k: park.variable(k) for k in ENTRY_VARIABLES} == ENTRY_VARIABLES
    create = channel_events(recorder, caller)[0]
    assert create.variable("implus_service") is None  # not set yet when the channel is created
    (row,) = client.show_channels()
    assert (row.uuid, row.direction, row.caller_id_number, row.destination) == (
        caller,
        "inbound",
        "+4930123456",
        "800",
    )
    assert (row.state, row.call_state, row.application) == ("CS_EXECUTE", "ACTIVE", "park")


def test_agent_first_then_bridge_then_caller_hangs_up(
    start_client, fake_fs: FakeFreeSwitch
) -> None:
    client, recorder = start_client()
    fake_fs.calls.add_phone("1001", Answer(after=0.05))
    caller = fake_fs.calls.inbound_call("800", "+4930123456", variables=ENTRY_VARIABLES)
    agent = str(uuid.uuid4())
    job = client.bgapi(
        f"originate {{origination_uuid={agent},implus_role=agent,originate_timeout=5}}"
        "user/1001@pbx.example &park()"
    )
    result = job.wait(5, check=True)
    assert result.result == agent
    park = wait_for_event(recorder, "CHANNEL_PARK", agent)
    assert names(recorder, agent) == [
        "CHANNEL_CREATE",
        "CHANNEL_PROGRESS",
        "CHANNEL_ANSWER",
        "CHANNEL_PARK",
    ]
    assert park.direction == "outbound"
    assert park.destination_number == "1001"
    assert park.variable("implus_role") == "agent"
    assert park.variable("origination_uuid") == agent
    assert park.channel_name == "sofia/internal/1001@127.0.0.1:5064"
    bridged = client.bgapi(f"uuid_bridge {caller} {agent}").wait(5, check=True)
    assert bridged.result == agent
    bridge = wait_for_event(recorder, "CHANNEL_BRIDGE", caller)
    assert (bridge.bridge_a_unique_id, bridge.bridge_b_unique_id) == (caller, agent)
    assert bridge.other_leg_unique_id == agent
    assert {r.uuid for r in client.show_channels()} == {caller, agent}
    fake_fs.calls.hangup(caller)
    caller_end = wait_for_event(recorder, "CHANNEL_HANGUP_COMPLETE", caller)
    agent_end = wait_for_event(recorder, "CHANNEL_HANGUP_COMPLETE", agent)
    assert caller_end.hangup_cause == agent_end.hangup_cause == "NORMAL_CLEARING"
    assert "CHANNEL_UNBRIDGE" in names(recorder, caller)
    recorder.wait_for(lambda: "CHANNEL_DESTROY" in names(recorder, agent), what="destroy")
    assert client.show_channels() == []


def test_agent_hangs_up_first(start_client, fake_fs: FakeFreeSwitch) -> None:
    client, recorder = start_client()
    fake_fs.calls.add_phone("1001", Answer(after=0.0))
    caller = fake_fs.calls.inbound_call("800", "+4930123456")
    agent = client.bgapi("originate user/1001 &park()").wait(5, check=True).result
    client.bgapi(f"uuid_bridge {caller} {agent}").wait(5, check=True)
    wait_for_event(recorder, "CHANNEL_BRIDGE", caller)
    fake_fs.calls.hangup(agent, "NORMAL_CLEARING")
    assert wait_for_event(recorder, "CHANNEL_HANGUP", agent).hangup_cause == "NORMAL_CLEARING"
    wait_for_event(recorder, "CHANNEL_HANGUP_COMPLETE", caller)
    first_hangup = next(e for e in channel_events(recorder) if e.name == "CHANNEL_HANGUP")
    assert first_hangup.unique_id == agent
    assert client.show_channels() == []


@pytest.mark.parametrize(
    ("behaviour", "cause", "rang"),
    [
        (Ring(), "NO_ANSWER", True),
        (Busy(), "USER_BUSY", True),
        (Reject("CALL_REJECTED", ring_for=0.05), "CALL_REJECTED", True),
        (Unreachable(), "NORMAL_TEMPORARY_FAILURE", False),
    ],
)
def test_agent_phone_that_does_not_answer(
    start_client, fake_fs: FakeFreeSwitch, behaviour, cause: str, rang: bool
) -> None:
    client, recorder = start_client()
    fake_fs.calls.add_phone("1001", behaviour)
    agent = str(uuid.uuid4())
    job = client.bgapi(
        f"originate {{origination_uuid={agent},originate_timeout=1}}user/1001 &park()"
    )
    outcome = job.wait(5)
    assert not outcome.ok
    assert outcome.result == cause
    end = wait_for_event(recorder, "CHANNEL_HANGUP_COMPLETE", agent)
    assert end.hangup_cause == cause
    assert end.variable("hangup_cause") == cause
    assert ("CHANNEL_PROGRESS" in names(recorder, agent)) is rang
    assert "CHANNEL_ANSWER" not in names(recorder, agent)
    assert client.show_channels() == []


def test_unregistered_agent_fails_without_a_channel(start_client, fake_fs: FakeFreeSwitch) -> None:
    client, recorder = start_client()
    fake_fs.calls.add_phone("1001", Answer(), register=False)
    outcome = client.bgapi("originate user/1001 &park()").wait(5)
    assert outcome.body == "-ERR USER_NOT_REGISTERED\n"
    assert channel_events(recorder) == []


def test_registrations_follow_the_phones(start_client, fake_fs: FakeFreeSwitch) -> None:
    client, recorder = start_client()
    fake_fs.calls.add_phone("1001", Answer(), domain="pbx.example")
    fake_fs.calls.unregister("1001")
    recorder.wait_for(
        lambda: len([e for e in recorder.events if isinstance(e, Registration)]) == 2,
        what="register and unregister",
    )
    regs = [e for e in recorder.events if isinstance(e, Registration)]
    assert [(r.user, r.host, r.registered) for r in regs] == [
        ("1001", "pbx.example", True),
        ("1001", "pbx.example", False),
    ]
    assert client.bgapi("originate user/1001 &park()").wait(5).result == "USER_NOT_REGISTERED"


def test_uuid_kill_of_a_ringing_agent_leg(start_client, fake_fs: FakeFreeSwitch) -> None:
    client, recorder = start_client()
    fake_fs.calls.add_phone("1001", Ring())
    agent = str(uuid.uuid4())
    job = client.bgapi(f"originate {{origination_uuid={agent}}}user/1001 &park()")
    wait_for_event(recorder, "CHANNEL_PROGRESS", agent)
    assert client.api(f"uuid_kill {agent} ORIGINATOR_CANCEL") == "+OK\n"
    assert job.wait(5).result == "ORIGINATOR_CANCEL"
    assert (
        wait_for_event(recorder, "CHANNEL_HANGUP_COMPLETE", agent).hangup_cause
        == "ORIGINATOR_CANCEL"
    )


def test_uuid_kill_of_a_parked_caller_and_of_nothing(start_client, fake_fs: FakeFreeSwitch) -> None:
    client, recorder = start_client()
    caller = fake_fs.calls.inbound_call("800", "+4930123456")
    assert client.api(f"uuid_kill {caller}") == "+OK\n"
    end = wait_for_event(recorder, "CHANNEL_HANGUP_COMPLETE", caller)
    assert end.hangup_cause == "NORMAL_CLEARING"
    with pytest.raises(EslCommandFailed, match="No such channel"):
        client.api(f"uuid_kill {caller}")
    assert client.api(f"uuid_exists {caller}") == "false"


def test_caller_abandons_with_a_cause(start_client, fake_fs: FakeFreeSwitch) -> None:
    _, recorder = start_client()
    caller = fake_fs.calls.inbound_call("800", "+4930123456")
    fake_fs.calls.hangup(caller, "ORIGINATOR_CANCEL")
    end = wait_for_event(recorder, "CHANNEL_HANGUP_COMPLETE", caller)
    assert end.hangup_cause == "ORIGINATOR_CANCEL"
    assert end.variable("hangup_cause") == "ORIGINATOR_CANCEL"


def test_dropped_connection_mid_call_is_reconciled(make_client, fake_fs: FakeFreeSwitch) -> None:
    snapshots = []
    client, recorder = make_client(on_connected=lambda: snapshots.append(client.show_channels()))
    client.start()
    assert client.wait_connected(5)
    fake_fs.calls.add_phone("1001", Answer(after=0.0))
    caller = fake_fs.calls.inbound_call("800", "+4930123456")
    agent = client.bgapi("originate user/1001 &park()").wait(5, check=True).result
    client.bgapi(f"uuid_bridge {caller} {agent}").wait(5, check=True)
    wait_for_event(recorder, "CHANNEL_BRIDGE", caller)
    fake_fs.drop_clients()
    recorder.wait_for(lambda: len(snapshots) == 2, what="reconciliation after reconnecting")
    rows = {row.uuid: row for row in snapshots[1]}
    assert set(rows) == {caller, agent}
    assert rows[caller].direction == "inbound"
    assert rows[agent].direction == "outbound"
    assert rows[agent].call_uuid == caller
    fake_fs.calls.hangup(caller)
    wait_for_event(recorder, "CHANNEL_HANGUP_COMPLETE", agent)


def test_filter_by_unique_id_keeps_background_jobs(start_client, fake_fs: FakeFreeSwitch) -> None:
    fake_fs.calls.add_phone("1001", Answer(after=0.0))
    client, recorder = start_client()
    watched = fake_fs.calls.inbound_call("800", "+4930123456")
    client.command(f"filter Unique-ID {watched}")
    client.command("filter Event-Name BACKGROUND_JOB")
    other = fake_fs.calls.inbound_call("801", "+4930999999")
    job = client.bgapi("originate user/1001 &park()")
    assert job.wait(5).ok
    fake_fs.calls.hangup(watched)
    wait_for_event(recorder, "CHANNEL_HANGUP_COMPLETE", watched)
    assert names(recorder, other) == []
    assert names(recorder, job.wait(1).result) == []
    assert any(isinstance(e, BackgroundJob) for e in recorder.events)


def test_one_byte_tcp_writes() -> None:
    """The whole agent-first flow with every byte in its own TCP write."""
    from esl_bridge.client import EslClient, EslSettings

    with FakeFreeSwitch(write_mode="bytewise") as fs:
        events = []
        client = EslClient(EslSettings(port=fs.port), events.append)
        client.start()
        try:
            assert client.wait_connected(5)
            fs.calls.add_phone("1001", Answer(after=0.0))
            caller = fs.calls.inbound_call("800", "+4930123456", variables=ENTRY_VARIABLES)
            agent = client.bgapi("originate user/1001 &park()").wait(10, check=True).result
            client.bgapi(f"uuid_bridge {caller} {agent}").wait(10, check=True)
            fs.calls.hangup(caller)
            import gevent

            with gevent.Timeout(10):
                while not any(
                    isinstance(e, ChannelEvent)
                    and e.name == "CHANNEL_DESTROY"
                    and e.unique_id == caller
                    for e in events
                ):
                    gevent.sleep(0.01)
            park = next(
                e for e in events if isinstance(e, ChannelEvent) and e.name == "CHANNEL_PARK"
            )
            assert park.variable("implus_service") == "booking"
        finally:
            client.stop()


def test_hold_music_safety_net_and_overflow_commands(start_client, fake_fs: FakeFreeSwitch) -> None:
    client, recorder = start_client(events=(*DEFAULT_EVENTS, "CHANNEL_UNPARK"))
    caller = fake_fs.calls.inbound_call("800", "+4930123456", variables=ENTRY_VARIABLES)
    assert client.bgapi(f"uuid_broadcast {caller} local_stream://moh aleg").wait(5).ok
    assert fake_fs.calls.broadcasts == [(caller, "local_stream://moh", "aleg")]
    assert client.api(f"sched_del {caller}") == "+OK Deleted: 1\n"
    assert client.api(f"sched_del {caller}") == "+OK Deleted: 0\n"
    assert client.api(f"uuid_transfer {caller} overflow1 XML implus-overflow") == "+OK\n"
    assert fake_fs.calls.transfers == [(caller, "overflow1 XML implus-overflow")]
    wait_for_event(recorder, "CHANNEL_UNPARK", caller)
    fake_fs.calls.hangup(caller)
    wait_for_event(recorder, "CHANNEL_HANGUP_COMPLETE", caller)
    with pytest.raises(EslCommandFailed, match="No such channel"):
        client.api(f"uuid_broadcast {caller} local_stream://moh aleg")


def test_no_recorded_identity_leaks_into_live_events(fake_fs: FakeFreeSwitch) -> None:
    """Every UUID, number, SIP address and profile of the recordings is replaced."""
    from freeswitch_fixture.templates import RECORDED_CORE_UUID, RECORDINGS

    fired = []
    fire = fake_fs.fire
    fake_fs.fire = lambda event: (fired.append(event), fire(event))  # type: ignore[method-assign]
    calls = fake_fs.calls
    calls.add_phone("1001", Answer(after=0.0))
    calls.add_phone("1002", Ring())
    caller = calls.inbound_call("800", "+4930123456", caller_name="Ada", variables=ENTRY_VARIABLES)
    agent = fake_fs.run_api("originate", "user/1001 &park()").split()[1]
    fake_fs.run_api("uuid_bridge", f"{caller} {agent}")
    calls.hangup(agent)
    fake_fs.run_api("originate", "{originate_timeout=0.1}user/1002 &park()")
    parked_agent = fake_fs.run_api("originate", "user/1001 &park()").split()[1]
    calls.hangup(parked_agent)
    other = calls.inbound_call("801", "+4930999999")
    fake_fs.run_api("uuid_transfer", f"{other} overflow1 XML implus-overflow")
    calls.hangup(other)
    fake_fs.run_api("originate", "sofia/internal/9999@10.0.0.1:5060 &park()")
    recorded = {RECORDED_CORE_UUID, "loopback5080", "sipp"}
    for rec in RECORDINGS.values():
        recorded |= {
            t
            for t in (
                rec.caller_uuid,
                rec.caller_host,
                rec.agent_uuid,
                rec.agent_user,
                rec.agent_host,
            )
            if t
        }
    leaks = [
        (event.name, name, value)
        for event in fired
        for name, value in event.headers
        if any(token in value for token in recorded - {"sipp"})
        or re.search(r"(?<![A-Za-z])sipp(?![A-Za-z])", value)
    ]
    assert len(fired) > 100
    assert leaks == []
