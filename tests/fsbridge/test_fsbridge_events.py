"""What the ESL bridge reads from FreeSWITCH's events (esl_bridge.events, esl_bridge.presence,
esl_bridge.translate, callflow.facts): hang-up causes, caller ids and channel names, the
events presence has work for, dialplan custom events, and a channel's end."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from freeswitch_fixture.transcripts import load

from callflow.context import user_id
from callflow.facts import ChannelGone, HangupRequested, failure_reason
from esl_bridge.events import ChannelEvent, DialplanEvent, event_from_raw
from esl_bridge.presence import Presence, channel_user
from esl_bridge.settings import BRIDGE_EVENTS
from esl_bridge.translate import facts_of, may_tell
from esl_bridge.wire import FrameReader, RawEvent, parse_json_event, parse_plain_event


@pytest.mark.parametrize(
    ("cause", "reason"),
    [
        ("NO_ANSWER", "no_answer"),
        ("NO_USER_RESPONSE", "no_answer"),
        ("ALLOTTED_TIMEOUT", "no_answer"),
        ("USER_BUSY", "busy"),
        ("CALL_REJECTED", "busy"),
        ("USER_NOT_REGISTERED", "unavailable"),
        ("NORMAL_TEMPORARY_FAILURE", "unavailable"),
        (None, "unavailable"),
    ],
)
def test_hangup_causes_map_to_offer_failure_reasons(cause: str | None, reason: str) -> None:
    assert failure_reason(cause) == reason


def test_user_ids_are_filtered_like_on_asterisk() -> None:
    assert user_id("+49 30,123;456", "fallback") == "+4930123456"
    assert user_id("", "c-uuid") == "c-uuid"
    assert user_id(None, "c-uuid") == "c-uuid"
    assert user_id("x" * 300, "c") == "x" * 128


def test_channel_names_give_the_phone_user() -> None:
    assert channel_user("sofia/internal/2001@10.0.0.5:5060") == "2001"
    assert channel_user("sofia/internal/sip:2001@10.0.0.5") == "2001"
    assert channel_user("loopback/800-a") is None
    assert channel_user(None) is None


def test_presence_queues_work_only_for_events_that_can_change_a_phone() -> None:
    presence = Presence(router=None, agents=lambda: {"1001": "anna"}, ttl=90)

    def event(name: str, uid: str, channel: str, **variables: str) -> ChannelEvent:
        headers = [("Event-Name", name), ("Unique-ID", uid), ("Channel-Name", channel)]
        headers += [(f"variable_{k}", v) for k, v in variables.items()]
        made = event_from_raw(RawEvent(headers))
        assert isinstance(made, ChannelEvent)
        return made

    phone = "sofia/internal/1001@10.0.0.5:5060"
    caller = "sofia/external/+4930123@10.0.0.9"
    assert presence.work_for(event("CHANNEL_CREATE", "c1", caller), pending=False) is None
    placed = event("CHANNEL_CREATE", "a1", phone, implus_agent="anna")
    assert presence.work_for(placed, pending=False) is None
    private = presence.work_for(event("CHANNEL_CREATE", "p1", phone), pending=False)
    assert private is not None
    end = event("CHANNEL_HANGUP", "p1", phone)
    assert presence.work_for(end, pending=True) is not None  # its CREATE may still be queued
    assert presence.work_for(end, pending=False) is None  # presence does not hold p1 (yet)
    presence.channels["p1"] = "1001"
    assert presence.work_for(end, pending=False) is not None
    assert presence.work_for(event("CHANNEL_PARK", "p1", phone), pending=True) is None


def test_create_events_presence_ignores_are_told_from_their_raw_json() -> None:
    """`Presence.ignores_raw` (the event is then not decoded) agrees with `work_for` on the
    decoded event, for recorded and generated CHANNEL_CREATEs."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "esl"))
    from test_esl_wire import whole

    # The recorded JSON call (06) has the caller's CHANNEL_PARK: as its CHANNEL_CREATE
    # (the same headers, fewer variables) it is the caller's leg.
    park = next(
        f.body
        for f in whole("06-inbound-call-json")
        if f.content_type == "text/event-json" and b'"CHANNEL_PARK"' in f.body
    )
    caller = json.loads(park)
    caller["Event-Name"] = "CHANNEL_CREATE"

    def create(**changes: str) -> bytes:
        return json.dumps({**caller, **changes}, separators=(",", ":")).encode()

    phone = "sofia/internal/1001@10.0.0.5:5060"
    cases = [
        create(),  # the recorded caller's leg
        create(**{"Channel-Name": phone}),  # an agent's own call: presence's business
        create(**{"Channel-Name": phone, "variable_implus_agent": "anna"}),  # placed by us
        create(**{"Channel-Name": phone, "variable_implus_agent": ""}),
        create(**{"Channel-Name": 'sofia/internal/1001@x"y'}),  # escaped: decoded instead
        create(**{"Event-Name": "CHANNEL_PARK"}),
        create(**{"Caller-Caller-ID-Name": '"Channel-Name":"sofia/a/b@c"'}),  # in a value
    ]
    presence = Presence(router=None, agents=lambda: {"1001": "anna"}, ttl=90)
    told = []
    for body in cases:
        event = event_from_raw(parse_json_event(body))
        assert isinstance(event, ChannelEvent)
        if presence.ignores_raw(body):
            assert presence.work_for(event, pending=False) is None, body[:80]
            assert not may_tell(event)
        told.append(presence.ignores_raw(body))
    assert told == [True, False, True, False, False, False, True]


def test_dialplan_custom_events_name_their_channel() -> None:
    raw = parse_plain_event(
        b"Event-Subclass: implus%3A%3Aoverflow\nEvent-Name: CUSTOM\nImplus-Service: billing\n"
        b"Implus-Entry: billing_de\nImplus-Destination: voicemail\nUnique-ID: u-1\n\n"
    )
    assert event_from_raw(raw) == DialplanEvent(
        subclass="implus::overflow",
        unique_id="u-1",
        service="billing",
        entry="billing_de",
        destination="voicemail",
    )


def test_a_channels_end_is_its_recorded_channel_hangup() -> None:
    """The bridge takes a channel's end from CHANNEL_HANGUP and does not subscribe the
    bigger CHANNEL_HANGUP_COMPLETE: on a real FreeSWITCH (recordings 03 and 04) every leg's
    CHANNEL_HANGUP comes first, in hang-up order, with the cause its HANGUP_COMPLETE repeats."""
    assert "CHANNEL_HANGUP" in BRIDGE_EVENTS
    assert "CHANNEL_HANGUP_COMPLETE" not in BRIDGE_EVENTS
    for name, legs in (("03-inbound-call-park-hangup", 1), ("04-agent-first-bridge", 2)):
        frames = FrameReader().feed(load(name).received)
        ends = [
            e
            for fr in frames
            if fr.content_type == "text/event-plain"
            for e in [event_from_raw(parse_plain_event(fr.body))]
            if isinstance(e, ChannelEvent) and e.name.startswith("CHANNEL_HANGUP")
        ]
        hangups = [e for e in ends if e.name == "CHANNEL_HANGUP"]
        completes = [e for e in ends if e.name == "CHANNEL_HANGUP_COMPLETE"]
        assert len(hangups) == len(completes) == legs
        first_complete = ends.index(completes[0])
        assert all(ends.index(h) < first_complete for h in hangups)
        causes = {e.unique_id: e.hangup_cause for e in completes}
        for h in hangups:
            assert may_tell(h)
            assert facts_of(h, lambda _uid: True) == [
                HangupRequested(h.unique_id),
                ChannelGone(h.unique_id, causes[h.unique_id] or "UNKNOWN"),
            ]
        for c in completes:  # were it ever sent: no second end
            assert not may_tell(c) and facts_of(c, lambda _uid: True) == []


@pytest.mark.parametrize(
    ("command", "arg", "body", "skipped"),
    [
        ("uuid_broadcast", "c-1 local_stream://moh aleg", "+OK Message queued\n", True),
        ("uuid_kill", "leg-1 NORMAL_CLEARING", "-ERR No such channel!\n", True),
        ("uuid_bridge", "c-1 leg-1", "+OK c-1\n", True),
        ("originate", "{origination_uuid=leg-1,implus_agent=a1}user/1001 &park()", "+OK leg-1\n",
         True),
        ("originate", "{origination_uuid=leg-1}user/1001 &park()", "-ERR USER_BUSY\n", False),
        ("originate", "{origination_uuid=leg-1,implus_spy=c-1}user/1001 &eavesdrop(c-1)",
         "+OK leg-1\n", False),
    ],
)  # fmt: skip
def test_background_jobs_that_tell_nothing_are_known_from_their_raw_text(
    command: str, arg: str, body: str, skipped: bool
) -> None:
    """A BACKGROUND_JOB left undecoded is one whose decoded event tells no fact (and no
    handle waits for it); the fixture renders it as FreeSWITCH's JSON does."""
    from freeswitch_fixture.events import EventFactory
    from freeswitch_fixture.wire import serialize_json

    from esl_bridge.translate import job_tells_nothing

    job = EventFactory().background_job("5d3e7a9c-0f1b-4c2d-8e6f-1a2b3c4d5e6f", command, arg, body)
    raw = serialize_json(job.headers, job.body)
    decoded = event_from_raw(parse_json_event(raw))
    assert job_tells_nothing(raw, lambda _uuid: False) is skipped
    if skipped:
        assert facts_of(decoded, lambda _uuid: True) == []
    else:
        assert facts_of(decoded, lambda _uuid: True) != []
    assert job_tells_nothing(raw, lambda uuid: uuid == job.get("Job-UUID")) is False  # waited
