"""The sans-I/O ESL parser against the bytes a real FreeSWITCH 1.11.1 sent (tests/data/freeswitch).

Every transcript is fed in many chunkings - one byte at a time, the recorded socket reads,
fixed sizes, every two-piece split of the small ones, random splits - and must always give
the same messages and the same decoded events.
"""

from __future__ import annotations

import re

import pytest
from freeswitch_fixture.transcripts import NAMES, load
from hypothesis import given, settings
from hypothesis import strategies as st

from esl_bridge.channels import parse_show_channels
from esl_bridge.errors import EslProtocolError
from esl_bridge.events import BackgroundJob, ChannelEvent, event_from_raw
from esl_bridge.wire import (
    EslInvalidCommand,
    Frame,
    FrameReader,
    encode_command,
    parse_json_event,
    parse_plain_event,
)


def feed(chunks: list[bytes]) -> list[Frame]:
    reader = FrameReader()
    frames: list[Frame] = []
    for chunk in chunks:
        frames.extend(reader.feed(chunk))
    assert reader.pending_bytes == 0
    return frames


def whole(name: str) -> list[Frame]:
    return feed([load(name).received])


def events(name: str) -> list:
    decoded = []
    for frame in whole(name):
        if frame.content_type == "text/event-plain":
            decoded.append(event_from_raw(parse_plain_event(frame.body)))
        elif frame.content_type == "text/event-json":
            decoded.append(event_from_raw(parse_json_event(frame.body)))
    return decoded


@pytest.mark.parametrize("name", NAMES)
def test_one_byte_at_a_time_gives_the_same_messages(name: str) -> None:
    raw = load(name).received
    assert feed([raw[i : i + 1] for i in range(len(raw))]) == whole(name)


@pytest.mark.parametrize("name", NAMES)
def test_recorded_socket_reads_give_the_same_messages(name: str) -> None:
    assert feed(load(name).reads) == whole(name)


@pytest.mark.parametrize("name", NAMES)
def test_event_heads_read_in_one_match_are_what_the_general_parsing_gives(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Events' outer headers are read by one regex match (`wire._EVENT_HEAD`); the frames
    are those of the line-by-line parsing, and the fast way is taken for every event."""
    import esl_bridge.wire as wire

    fast = whole(name)
    events = [f for f in fast if f.content_type.startswith("text/event-")]
    assert bool(events) == (name[:2] not in ("01", "02"))  # those two have no events
    assert all(wire._EVENT_HEAD.match(_head(f) + b"\n") for f in events)
    monkeypatch.setattr(wire, "_EVENT_HEAD", re.compile(rb"(?!)"))  # never matches
    assert whole(name) == fast


def _head(frame: Frame) -> bytes:
    return b"\n".join(f"{k}: {v}".encode() for k, v in frame.headers) + b"\n"


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("size", [2, 3, 7, 64, 1000, 4096])
def test_fixed_chunk_sizes_give_the_same_messages(name: str, size: int) -> None:
    raw = load(name).received
    assert feed([raw[i : i + size] for i in range(0, len(raw), size)]) == whole(name)


@pytest.mark.parametrize(
    "name", ["01-auth-api-exit", "02-auth-bad-password", "05-originate-no-answer"]
)
def test_every_two_piece_split_gives_the_same_messages(name: str) -> None:
    raw = load(name).received
    expected = whole(name)
    for cut in range(len(raw) + 1):
        assert feed([raw[:cut], raw[cut:]]) == expected, cut


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_random_chunkings_give_the_same_messages(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(NAMES))
    raw = load(name).received
    cuts = sorted(data.draw(st.lists(st.integers(0, len(raw)), max_size=60)))
    pieces = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]
    assert feed(pieces) == whole(name)


def test_auth_api_and_exit_messages() -> None:
    frames = whole("01-auth-api-exit")
    assert [f.content_type for f in frames] == [
        "auth/request",
        "command/reply",
        "api/response",
        "api/response",
        "api/response",
        "command/reply",
        "command/reply",
        "text/disconnect-notice",
    ]
    assert frames[1].get("Reply-Text") == "+OK accepted"
    assert frames[2].text().startswith("UP 0 years")
    assert parse_show_channels(frames[3].text()) == []
    assert frames[4].text() == "-ERR No such channel!\n"
    assert frames[5].get("Reply-Text") == "-ERR command not found"
    assert frames[6].get("Reply-Text") == "+OK bye"
    assert frames[7].text().startswith("Disconnected, goodbye.")


def test_bad_password_messages() -> None:
    frames = whole("02-auth-bad-password")
    assert [f.content_type for f in frames] == [
        "auth/request",
        "command/reply",
        "text/disconnect-notice",
    ]
    assert frames[1].get("reply-text") == "-ERR invalid"


def test_inbound_call_events_decode() -> None:
    decoded = events("03-inbound-call-park-hangup")
    assert all(isinstance(e, ChannelEvent) for e in decoded)
    names = [e.name for e in decoded]
    assert names[:3] == ["CHANNEL_STATE", "CHANNEL_STATE", "CHANNEL_CREATE"]
    assert names[-3:] == ["CHANNEL_HANGUP_COMPLETE", "CHANNEL_DESTROY", "CHANNEL_STATE"]
    park = decoded[names.index("CHANNEL_PARK")]
    assert park.unique_id == "931cc51a-8e99-4df5-bd9b-7726f0739a03"
    assert park.call_uuid == park.unique_id
    assert park.caller_id_number == "sipp"
    assert park.destination_number == "800"
    assert park.direction == "inbound"
    assert park.answer_state == "answered"
    assert park.variable("service") == "booking"
    assert park.channel_name == "sofia/loopback5080/sipp@127.0.0.1:5093"
    assert park.variables["sip_full_from"] == "sipp <sip:sipp@127.0.0.1:5093>;tag=4068SIPpTag001"
    # An encoded CR LF stays inside its value instead of starting new headers.
    assert park.variables["switch_r_sdp"].startswith("v=0\r\no=user1 ")
    assert "a=rtpmap:0 PCMU/8000" not in park.variables
    hangup = decoded[names.index("CHANNEL_HANGUP_COMPLETE")]
    assert hangup.hangup_cause == "NORMAL_CLEARING"
    assert hangup.variable("hangup_cause") == "NORMAL_CLEARING"
    assert [e.sequence for e in decoded][:2] == [528, 531]


def test_agent_first_bridge_events_decode() -> None:
    decoded = events("04-agent-first-bridge")
    jobs = [e for e in decoded if isinstance(e, BackgroundJob)]
    assert [(j.job_uuid, j.command, j.ok, j.result) for j in jobs] == [
        (
            "dbd517bf-bfdf-4bc3-8d96-5cc4190b7a2c",
            "originate",
            True,
            "1c3ff21a-e550-42eb-b4d7-5a9496c6480a",
        ),
        (
            "b04b1bc2-cdd5-4041-a085-d92ca455a70a",
            "uuid_bridge",
            True,
            "1c3ff21a-e550-42eb-b4d7-5a9496c6480a",
        ),
    ]
    assert jobs[0].body == "+OK 1c3ff21a-e550-42eb-b4d7-5a9496c6480a\n"
    assert jobs[0].command_arg == (
        "{origination_uuid=1c3ff21a-e550-42eb-b4d7-5a9496c6480a,implus_role=agent,"
        "originate_timeout=10}sofia/loopback5080/agent1001@127.0.0.1:5094 &park()"
    )
    bridge = next(e for e in decoded if isinstance(e, ChannelEvent) and e.name == "CHANNEL_BRIDGE")
    assert bridge.bridge_a_unique_id == "eab7fd99-1ef6-444d-b9a6-36a809fb8f67"
    assert bridge.bridge_b_unique_id == "1c3ff21a-e550-42eb-b4d7-5a9496c6480a"
    agent_create = next(
        e
        for e in decoded
        if isinstance(e, ChannelEvent)
        and e.name == "CHANNEL_CREATE"
        and e.unique_id.startswith("1c3ff21a")
    )
    assert agent_create.direction == "outbound"
    assert agent_create.variable("implus_role") == "agent"
    assert agent_create.destination_number == "agent1001"


def test_failed_originate_background_job() -> None:
    decoded = events("05-originate-no-answer")
    job = decoded[-1]
    assert isinstance(job, BackgroundJob)
    assert job.body == "-ERR NORMAL_TEMPORARY_FAILURE\n"
    assert not job.ok
    assert job.result == "NORMAL_TEMPORARY_FAILURE"
    hangup = decoded[-2]
    assert isinstance(hangup, ChannelEvent)
    assert hangup.hangup_cause == "NORMAL_TEMPORARY_FAILURE"
    assert hangup.variable("sip_term_status") == "503"


def test_json_events_decode() -> None:
    park, hangup = events("06-inbound-call-json")
    assert isinstance(park, ChannelEvent)
    assert park.name == "CHANNEL_PARK"
    assert park.channel_name == "sofia/loopback5080/sipp@127.0.0.1:5096"
    assert park.variable("service") == "booking"
    assert isinstance(hangup, ChannelEvent)
    assert hangup.hangup_cause == "NORMAL_CLEARING"


def test_encoded_newline_cannot_forge_headers() -> None:
    payload = (
        b"Event-Name: CHANNEL_PARK\nUnique-ID: real\n"
        b"Caller-Caller-ID-Name: Mallory%0AUnique-ID: forged%0Avariable_implus_service: vip\n\n"
    )
    event = event_from_raw(parse_plain_event(payload))
    assert isinstance(event, ChannelEvent)
    assert event.unique_id == "real"
    assert event.caller_id_name == "Mallory\nUnique-ID: forged\nvariable_implus_service: vip"
    assert event.variable("implus_service") is None


def test_background_job_body_is_not_a_header_value() -> None:
    raw = parse_plain_event(
        b"Event-Name: BACKGROUND_JOB\nJob-UUID: j1\nContent-Length: 19\n\n-ERR USER_BUSY: x\n\n"
    )
    assert raw.body == "-ERR USER_BUSY: x\n\n"
    assert raw.get("Content-Length") == "19"
    assert [name for name, _ in raw.headers] == ["Event-Name", "Job-UUID", "Content-Length"]


def test_duplicated_content_length_with_one_value_is_fine() -> None:
    frames = feed([b"Content-Type: api/response\nContent-Length: 3\nContent-Length: 3\n\nabc"])
    assert frames == [
        Frame(
            (("Content-Type", "api/response"), ("Content-Length", "3"), ("Content-Length", "3")),
            b"abc",
        )
    ]


def test_duplicated_content_length_with_two_values_is_a_protocol_error() -> None:
    reader = FrameReader()
    with pytest.raises(EslProtocolError, match="Content-Length 23 and 5"):
        list(
            reader.feed(
                b"Content-Length: 23\nContent-Type: text/event-plain\nContent-Length: 5\n\n"
            )
        )


@pytest.mark.parametrize(
    "data",
    [
        b"Content-Type: api/response\nContent-Length: x1\n\n",
        b"this is not esl\n\n",
        b"A" * 70000,
    ],
)
def test_garbage_is_a_protocol_error(data: bytes) -> None:
    with pytest.raises(EslProtocolError):
        list(FrameReader().feed(data))


def test_messages_before_a_malformed_one_are_still_delivered() -> None:
    frames = FrameReader().feed(
        b"Content-Type: api/response\nContent-Length: 4\n\n+OK\n"
        b"Content-Length: 23\nContent-Type: text/event-plain\nContent-Length: 5\n\n"
    )
    assert next(frames).text() == "+OK\n"
    with pytest.raises(EslProtocolError):
        next(frames)


def test_event_body_length_mismatch_is_a_protocol_error() -> None:
    with pytest.raises(EslProtocolError, match="says 10"):
        parse_plain_event(b"Event-Name: BACKGROUND_JOB\nContent-Length: 10\n\n+OK\n")


def test_commands_with_line_breaks_are_refused() -> None:
    assert encode_command("api status") == b"api status\n\n"
    assert encode_command("bgapi status", {"Job-UUID": "u"}) == b"bgapi status\nJob-UUID: u\n\n"
    with pytest.raises(EslInvalidCommand):
        encode_command("api originate {x=1}user/1001\n\napi fsctl shutdown")
    with pytest.raises(EslInvalidCommand):
        encode_command("bgapi status", {"Job-UUID": "u\n"})
    with pytest.raises(EslInvalidCommand):
        encode_command("   ")
