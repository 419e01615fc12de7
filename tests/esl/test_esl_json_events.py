"""JSON events decoded the fast way (orjson, lookups without a pass per header) give what a
pair-by-pair decoding gives: first values of repeated names, array headers, the body, any
spelling of a name, every variable."""

from __future__ import annotations

import json

import orjson
import pytest
from test_esl_wire import events, whole

from esl_bridge.errors import EslProtocolError
from esl_bridge.events import ChannelEvent, event_from_raw
from esl_bridge.wire import RawEvent, _names_repeat, _unique_as_dumped, parse_json_event


def _slow(payload: bytes) -> RawEvent:
    """The reference: every pair in order, decoded by the json module."""
    return RawEvent(json.loads(payload, object_pairs_hook=list), body_key="_body")


def _event(pairs: list[tuple[str, object]]) -> bytes:
    return ("{" + ",".join(f"{json.dumps(k)}:{json.dumps(v)}" for k, v in pairs) + "}").encode()


def test_recorded_json_events_decode_as_pair_by_pair() -> None:
    frames = [f for f in whole("06-inbound-call-json") if f.content_type == "text/event-json"]
    assert frames
    for frame in frames:
        fast, slow = parse_json_event(frame.body), _slow(frame.body)
        assert fast.headers == slow.headers
        assert fast.body == slow.body
        for name, _ in slow.headers:
            assert fast.get(name) == slow.get(name), name
            assert fast.get(name.upper()) == slow.get(name.upper()), name
            assert fast.get_exact(name) == slow.get_exact(name), name
        assert fast.get("No-Such-Header") is None


def test_recorded_hangup_complete_repeats_hangup_cause_with_one_value() -> None:
    hangup = [e for e in events("06-inbound-call-json") if e.name == "CHANNEL_HANGUP_COMPLETE"]
    assert len(hangup) == 1
    assert isinstance(hangup[0], ChannelEvent)
    assert hangup[0].hangup_cause == "NORMAL_CLEARING"
    frame = next(f for f in whole("06-inbound-call-json") if b"HANGUP_COMPLETE" in f.body)
    assert frame.body.count(b'"Hangup-Cause":"') == 2
    assert not _names_repeat(frame.body, len(json.loads(frame.body)))


def test_a_repeated_name_with_two_values_gives_the_first() -> None:
    payload = _event(
        [("Event-Name", "CHANNEL_PARK"), ("Unique-ID", "first"), ("Unique-ID", "second")]
    )
    assert parse_json_event(payload).get("Unique-ID") == "first"
    payload = _event(
        [("Event-Name", "X"), ("Hangup-Cause", "USER_BUSY"), ("Hangup-Cause", "NO_ANSWER")]
    )
    assert parse_json_event(payload).get("hangup-cause") == "USER_BUSY"


def test_values_that_look_like_names_do_not_fool_the_repeat_count() -> None:
    tricky = [
        ("Event-Name", "CHANNEL_PARK"),
        ("FreeSWITCH-IPv6", "::1"),
        ("variable_a", 'x":"y'),
        ("variable_b", 'q":[1'),
        ("variable_c", ["a", '":"', "::"]),
        ("Unique-ID", "u1"),
    ]
    payload = _event(tricky)
    assert not _names_repeat(payload, len(json.loads(payload)))
    raw = parse_json_event(payload)
    assert raw.headers == _slow(payload).headers
    assert raw.get_exact("variable_b") == 'q":[1'
    assert raw.get_exact("variable_c") == "a"  # an array header: its first item
    with_repeat = _event([*tricky, ("variable_a", "other")])
    assert _names_repeat(with_repeat, len(json.loads(with_repeat)))
    assert parse_json_event(with_repeat).get_exact("variable_a") == 'x":"y'


def test_another_spelling_is_found_when_the_asked_one_is_absent() -> None:
    raw = parse_json_event(_event([("Event-Name", "CUSTOM"), ("unique-id", "u9")]))
    assert raw.get("Unique-ID") == "u9"
    assert raw.get("Other-Leg-Unique-ID") is None


def test_body_is_not_a_header() -> None:
    payload = _event(
        [("Event-Name", "BACKGROUND_JOB"), ("Job-UUID", "j"), ("Content-Length", "4"),
         ("_body", "+OK\n")]
    )  # fmt: skip
    raw = parse_json_event(payload)
    assert raw.body == "+OK\n"
    assert raw.get("_body") is None and raw.get_exact("_body") is None
    assert [n for n, _ in raw.headers] == ["Event-Name", "Job-UUID", "Content-Length"]


def test_variables_are_read_lazily_but_all_there() -> None:
    payload = _event(
        [("Event-Name", "CHANNEL_CREATE"), ("Unique-ID", "u"), ("variable_implus_agent", "a1"),
         ("variable_sip_from_user", "1001"), ("Variable_odd", "x")]
    )  # fmt: skip
    event = event_from_raw(parse_json_event(payload))
    assert isinstance(event, ChannelEvent)
    assert event.variable("implus_agent") == "a1"
    assert event.variable("nothing") is None
    assert dict(event.variables) == {"implus_agent": "a1", "sip_from_user": "1001"}
    assert len(event.variables) == 2 and "implus_agent" in event.variables


def test_recorded_json_events_are_known_unique_from_orjson_writing_them_back() -> None:
    """cJSON's unformatted JSON is what orjson writes: the cheap check decides every
    recorded event, the HANGUP_COMPLETE with its repeated Hangup-Cause included."""
    frames = [f for f in whole("06-inbound-call-json") if f.content_type == "text/event-json"]
    assert any(b"HANGUP_COMPLETE" in f.body for f in frames)
    for frame in frames:
        assert _unique_as_dumped(frame.body, orjson.loads(frame.body))


H, V = "Hangup-Cause", "NORMAL_CLEARING"
REPEATS = [
    # (pairs, unique by the cheap check)
    ([("Event-Name", "X"), (H, V), ("a", "1"), (H, V)], True),
    ([(H, V), ("a", "1"), (H, V), (H, V)], True),  # first pair, no comma before it
    ([("Event-Name", "X"), (H, V), ("a", "1"), (H, "USER_BUSY")], False),
    ([("Event-Name", "X"), (H, V), (H, V + "_2")], False),
    ([("Event-Name", "X"), (H, V), ("a", "1"), (H, V), ("a", "2")], False),
    ([("Event-Name", "X"), ("v", f',"{H}":"{V}"'), (H, V)], True),  # a pair's text in a value
    ([("Event-Name", "X"), (H, 'A"B'), ("a", "1"), (H, 'A"B')], False),  # escapes: counted
    ([("Event-Name", "X"), ("a", ["1", "2"]), ("a", "3")], False),
]


@pytest.mark.parametrize(("pairs", "cheap"), REPEATS)
def test_the_cheap_unique_check_never_hides_a_repeat(
    pairs: list[tuple[str, object]], cheap: bool
) -> None:
    payload = _event(pairs)
    assert _unique_as_dumped(payload, orjson.loads(payload)) is cheap
    fast, slow = parse_json_event(payload), _slow(payload)
    assert fast.headers == slow.headers
    for name, _ in pairs:
        assert fast.get(name) == slow.get(name), name


def test_json_spelled_otherwise_than_orjson_writes_it_falls_back_to_counting() -> None:
    """Escapes cJSON does not write (`\\/`, `\\u00e9`) only cost the slower check."""
    payload = b'{"Event-Name":"X","Unique-ID":"a\\/b","n":"\\u00e9"}'
    assert not _unique_as_dumped(payload, orjson.loads(payload))
    assert parse_json_event(payload).get("Unique-ID") == "a/b"
    repeated = b'{"Event-Name":"X","Unique-ID":"a\\/b","Unique-ID":"c"}'
    assert parse_json_event(repeated).get("Unique-ID") == "a/b"


def test_json_nested_deeper_than_orjson_writes_is_still_decoded() -> None:
    payload = b'{"Event-Name":"X","a":' + b"[" * 300 + b"]" * 300 + b',"a":"2"}'
    assert not _unique_as_dumped(payload, orjson.loads(payload))
    assert parse_json_event(payload).get("Event-Name") == "X"


@pytest.mark.parametrize("payload", [b"[1, 2]", b'"text"', b"{", b'{"a": }', b"\xff{}"])
def test_what_is_not_a_json_object_is_a_protocol_error(payload: bytes) -> None:
    with pytest.raises(EslProtocolError):
        parse_json_event(payload)


def test_a_channel_events_fields_are_its_headers_read_when_asked_for() -> None:
    frames = [f for f in whole("06-inbound-call-json") if f.content_type == "text/event-json"]
    park = next(f.body for f in frames if b'"Event-Name":"CHANNEL_PARK"' in f.body)
    raw = _slow(park)
    event = event_from_raw(parse_json_event(park))
    assert isinstance(event, ChannelEvent)
    assert event.unique_id == raw.get("Unique-ID") and event.name == "CHANNEL_PARK"
    assert event.channel_name == raw.get("Channel-Name")
    assert event.destination_number == raw.get("Caller-Destination-Number") == "800"
    assert event.hangup_cause is None and event.bridge_b_unique_id is None  # absent
    assert event.sequence == int(raw.get("Event-Sequence") or "")
    assert event == event_from_raw(parse_json_event(park))  # same headers, equal
    assert hash(event) == hash(event_from_raw(parse_json_event(park)))
    assert "destination_number='800'" in repr(event)
    with pytest.raises(AttributeError):
        event.channel_name = "forged"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        event.unique_id = "forged"  # type: ignore[misc]
