"""The AMI parsing layer on real traffic recorded from the sandbox (tests/data/ami/).

Recorded by tests/asterisk/record_ami.py; no Asterisk is needed here.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from panoramisk.ami_protocol import AMIProtocol

from ami_bridge import events as ev
from ami_bridge.wire import AmiStreamParser

DATA = Path(__file__).parent.parent / "data" / "ami"
RECORDINGS = sorted(p.name for p in DATA.glob("*.raw"))


def raw(name: str) -> bytes:
    return (DATA / name).read_bytes()


def parse(chunks: list[bytes]) -> list[dict[str, object]]:
    parser = AmiStreamParser()
    out = []
    for chunk in chunks:
        out += [dict(m.items()) for m in parser.feed(chunk)]
    return out


def events_of(name: str) -> list[ev.AmiEvent]:
    parser = AmiStreamParser()
    return [ev.from_message(m) for m in parser.feed(raw(name)) if "Event" in m]


def test_recordings_exist() -> None:
    assert RECORDINGS == [
        "agent_rung_and_lists.raw",
        "bridge_answered.raw",
        "bridge_busy.raw",
        "bridge_no_answer.raw",
        "bridge_outbound.raw",
        "customer_to_agent.raw",
        "entry_call.raw",
        "originate_answered.raw",
    ]


@pytest.mark.parametrize("name", RECORDINGS)
def test_greeting_and_every_message(name: str) -> None:
    data = raw(name)
    parser = AmiStreamParser()
    messages = parser.feed(data)
    assert parser.version == "11.0.0"  # Asterisk 22's AMI version, no blank line after it
    assert messages[0]["Response"] == "Success"  # the login
    assert messages[-1]["Response"] == "Goodbye"
    assert len(messages) == data.count(b"\r\n\r\n")


@pytest.mark.parametrize("name", RECORDINGS)
def test_any_chunking_gives_the_same_messages(name: str) -> None:
    data = raw(name)
    whole = parse([data])
    assert parse([data[i : i + 1] for i in range(len(data))]) == whole
    rng = random.Random(name)
    for _ in range(20):
        cuts = sorted(rng.sample(range(1, len(data)), rng.randint(1, 200)))
        chunks = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
        assert parse(chunks) == whole


def test_split_at_every_byte_boundary() -> None:
    data = raw("originate_answered.raw")
    whole = parse([data])
    for i in range(1, len(data)):
        assert parse([data[:i], data[i:]]) == whole, f"split at byte {i}"


def test_utf8_split_inside_a_character_survives() -> None:
    data = raw("originate_answered.raw")
    start = data.index("张".encode())
    for cut in (start + 1, start + 2):  # inside the 3-byte character
        names = [m.get("CallerIDName") for m in parse([data[:cut], data[cut:]])]
        assert "Zoë 张伟" in names


def test_panoramisk_alone_loses_split_utf8() -> None:
    """Pins the panoramisk 1.4 bug that AmiStreamParser works around."""
    data = raw("originate_answered.raw")
    cut = data.index("张".encode()) + 1
    protocol = AMIProtocol()
    protocol.connection_made(transport=None)
    seen: list[str] = []
    protocol.handle_message = lambda m: seen.append(m.get("CallerIDName", ""))
    protocol.data_received(data[:cut])
    protocol.data_received(data[cut:])
    assert "Zoë 张伟" not in seen  # the split character (and more) is dropped


def test_repeated_headers_are_kept_in_order() -> None:
    messages = AmiStreamParser().feed(raw("entry_call.raw"))
    new = next(m for m in messages if m.get("Event") == "Newchannel")
    assert new["ChanVariable"] == [
        "IMPLUS_SERVICE=",
        "IMPLUS_ENTRY=",
        "IMPLUS_LANGUAGE=",
        "IMPLUS_USER=",
    ]
    hangup = ev.from_message(next(m for m in messages if m.get("Event") == "Hangup"))
    assert isinstance(hangup, ev.Hangup)
    assert hangup.chan_vars == {
        "IMPLUS_SERVICE": "booking",
        "IMPLUS_ENTRY": "100",
        "IMPLUS_LANGUAGE": "",
        "IMPLUS_USER": "5550401",
    }


def test_entry_call_events() -> None:
    events = events_of("entry_call.raw")
    assert isinstance(events[0], ev.FullyBooted)
    user = next(e for e in events if isinstance(e, ev.UserEvent))
    assert user.user_event == "ImplusEntry"
    assert dict(user.fields) == {
        "Service": "booking",
        "Entry": "100",
        "User": "5550401",
        "MaxWait": "30",
    }
    assert (user.caller_id_num, user.context, user.exten) == ("5550401", "sandbox-inbound", "100")
    new = next(e for e in events if isinstance(e, ev.Newchannel))
    hangup = next(e for e in events if isinstance(e, ev.Hangup))
    assert new.uniqueid == user.uniqueid == hangup.uniqueid == hangup.linkedid
    assert new.channel.startswith("PJSIP/customers-")
    assert (hangup.cause, hangup.cause_txt) == (0, "Unknown")  # caller's BYE while holding
    var = next(e for e in events if isinstance(e, ev.VarSet))
    assert var.variable
    assert var.uniqueid == new.uniqueid
    devices = [e for e in events if isinstance(e, ev.DeviceStateChange)]
    assert [(d.device, d.state) for d in devices] == [
        ("PJSIP/customers", "INUSE"),
        ("PJSIP/customers", "NOT_INUSE"),
    ]


def test_originate_events() -> None:
    events = events_of("originate_answered.raw")
    response = next(e for e in events if isinstance(e, ev.OriginateResponse))
    assert response.action_id == "rec-originate-1"
    assert (response.response, response.reason, response.answered) == ("Success", 4, True)
    assert response.uniqueid == "rec-leg-1"
    assert response.caller_id_name == "Zoë 张伟"
    dial_end = next(e for e in events if isinstance(e, ev.DialEnd))
    assert (dial_end.dial_status, dial_end.dest_uniqueid) == ("ANSWER", "rec-leg-1")
    assert dial_end.uniqueid == ""  # an originated leg has no calling channel
    hangup = next(e for e in events if isinstance(e, ev.Hangup))
    # the phone hung up first (talk 0.5 s < Wait(1)): a BYE without Reason -> cause 0
    assert (hangup.uniqueid, hangup.cause) == ("rec-leg-1", 0)


def test_customer_to_agent_bridge_events() -> None:
    events = events_of("customer_to_agent.raw")
    enters = [e for e in events if isinstance(e, ev.BridgeEnter)]
    leaves = [e for e in events if isinstance(e, ev.BridgeLeave)]
    assert len(enters) == 2
    assert len(leaves) == 2
    assert len({e.bridge_uniqueid for e in enters + leaves}) == 1
    dial_begin = next(e for e in events if isinstance(e, ev.DialBegin))
    dial_end = next(e for e in events if isinstance(e, ev.DialEnd))
    assert dial_begin.caller_id_num == "5550403"
    assert dial_begin.dest_channel.startswith("PJSIP/1002-")
    assert dial_end.dial_status == "ANSWER"
    assert dial_end.dest_linkedid == dial_begin.uniqueid  # the agent leg links to the caller
    statuses = [e.contact_status for e in events if isinstance(e, ev.ContactStatus)]
    assert statuses[0] in ("NonQualified", "Reachable")
    assert statuses[-1] == "Removed"


def test_list_action_items() -> None:
    messages = AmiStreamParser().feed(raw("agent_rung_and_lists.raw"))
    items = [ev.from_message(m) for m in messages if m.get("ActionID", "").startswith("rec-")]
    channel = next(e for e in items if isinstance(e, ev.CoreShowChannel))
    assert channel.action_id == "rec-CoreShowChannels"
    assert (channel.uniqueid, channel.application) == ("rec-agent-leg", "MusicOnHold")
    contact = next(e for e in items if isinstance(e, ev.ContactList))
    assert (contact.endpoint, contact.uri) == ("1002", "sip:1002@127.0.0.1:5072")
    device_items = [
        e
        for e in items
        if isinstance(e, ev.DeviceStateChange) and e.action_id == "rec-DeviceStateList"
    ]
    assert ("PJSIP/1002", "INUSE") in {(d.device, d.state) for d in device_items}


def test_unknown_events_keep_their_raw_headers() -> None:
    events = events_of("customer_to_agent.raw")
    create = next(e for e in events if e.event == "BridgeCreate")
    assert isinstance(create, ev.OtherEvent)
    assert "BridgeUniqueid" in create.headers


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("CallerIDNum", "caller_id_num"),
        ("ConnectedLineName", "connected_line_name"),
        ("Uniqueid", "uniqueid"),
        ("ActionID", "action_id"),
        ("Cause-txt", "cause_txt"),
        ("AOR", "aor"),
        ("URI", "uri"),
        ("RoundtripUsec", "roundtrip_usec"),
        ("DestChannelStateDesc", "dest_channel_state_desc"),
        ("CID-CallingPres", "cid_calling_pres"),
        ("ChanVariable", "chan_variable"),
        ("BridgeNumChannels", "bridge_num_channels"),
    ],
)
def test_snake_case(header: str, field: str) -> None:
    assert ev.snake_case(header) == field


def test_events_are_frozen_and_drop_unknown_headers() -> None:
    event = ev.from_message(
        {
            "Event": "DeviceStateChange",
            "Device": "PJSIP/1",
            "State": "INUSE",
            "Privilege": "call,all",
            "Surprise": "x",
        }
    )
    assert event == ev.DeviceStateChange(event="DeviceStateChange", device="PJSIP/1", state="INUSE")
    with pytest.raises(AttributeError):
        event.state = "BUSY"  # type: ignore[misc]


def test_header_plans_are_per_class_and_survive_repeats() -> None:
    """`from_message` remembers, per class, what each raw header name becomes: the same
    header is a field of one class and dropped by another, every time."""
    hangup = {"Event": "Hangup", "Uniqueid": "u1", "Cause": "17", "Exten": "800", "Foo": "x"}
    device = {"Event": "DeviceStateChange", "Device": "PJSIP/3001", "State": "INUSE"}
    for _ in range(3):
        a = ev.from_message(hangup)
        assert isinstance(a, ev.Hangup)
        assert (a.uniqueid, a.cause, a.exten) == ("u1", 17, "800")
        b = ev.from_message({**device, "Uniqueid": "u2", "Cause": "bad"})
        assert isinstance(b, ev.DeviceStateChange)
        assert (b.device, b.state) == ("PJSIP/3001", "INUSE")
        assert not hasattr(b, "uniqueid")
        c = ev.from_message({**hangup, "Cause": ["bad", "16"], "ChanVariable": "A=1"})
        assert isinstance(c, ev.Hangup)
        assert (c.cause, c.chan_variable) == (0, ("A=1",))
