"""The bridge's translation layer (AMI events -> call-flow facts) on recorded traffic.

tests/data/ami/bridge_*.raw are what the bridge's own AMI session received (with its
event filters) while it handled real calls on the sandbox (recorded by
tests/asterisk/record_bridge_ami.py). No Asterisk is needed here.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from ami_bridge import events as ev
from ami_bridge.translate import Translator, device_presence, failure_reason, originate_id
from ami_bridge.wire import AmiStreamParser
from callflow import facts as f

DATA = Path(__file__).parent.parent / "data" / "ami"
RECORDINGS = [
    "bridge_answered.raw",
    "bridge_busy.raw",
    "bridge_no_answer.raw",
    "bridge_outbound.raw",
]


def translate(chunks: list[bytes]) -> list[f.Fact]:
    parser, translator = AmiStreamParser(), Translator()
    out: list[f.Fact] = []
    for chunk in chunks:
        for message in parser.feed(chunk):
            if "Event" in message:
                out += translator.feed(ev.from_message(message))
    return out


def facts_of(name: str) -> list[f.Fact]:
    return translate([(DATA / name).read_bytes()])


def messages_of(name: str) -> list[dict[str, str]]:
    return [dict(m) for m in AmiStreamParser().feed((DATA / name).read_bytes()) if "Event" in m]


def user_event(uniqueid: str, name: str, **fields: str) -> ev.AmiEvent:
    return ev.from_message(
        {"Event": "UserEvent", "UserEvent": name, "Uniqueid": uniqueid, "Channel": "PJSIP/x"}
        | fields
    )


def dial_end(caller: str, leg: str, status: str) -> ev.AmiEvent:
    return ev.from_message(
        {"Event": "DialEnd", "Uniqueid": caller, "DestUniqueid": leg, "DialStatus": status}
    )


def calls(facts: list[f.Fact]) -> list[f.Fact]:
    """Everything but the device states."""
    return [x for x in facts if not isinstance(x, f.DeviceChanged)]


def one(facts: list[f.Fact], kind: type[f.Fact]) -> f.Fact:
    found = [x for x in facts if isinstance(x, kind)]
    assert len(found) == 1, found
    return found[0]


@pytest.mark.parametrize("name", RECORDINGS)
def test_any_split_of_the_stream_gives_the_same_facts(name: str) -> None:
    data = (DATA / name).read_bytes()
    whole = translate([data])
    assert whole
    assert translate([data[i : i + 1] for i in range(len(data))]) == whole
    rng = random.Random(name)
    for _ in range(10):
        cuts = sorted(rng.sample(range(1, len(data)), rng.randint(1, 300)))
        chunks = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
        assert translate(chunks) == whole


def test_answered_call() -> None:
    facts = facts_of("bridge_answered.raw")
    arrived = one(facts, f.CallerArrived)
    assert isinstance(arrived, f.CallerArrived)
    assert (arrived.service, arrived.entry, arrived.user) == ("booking", "booking_en", "5550401")
    assert (arrived.exten, arrived.number, arrived.max_wait) == ("800", "5550401", 120)
    assert arrived.channel.startswith("PJSIP/customers-")
    assert arrived.media == "voice"
    caller = arrived.call_id
    # The caller's own Dial (implus-connect) rang bob's phone.
    dial = one(facts, f.LegRinging)
    assert isinstance(dial, f.LegRinging)
    assert dial.by == caller
    answered = one(facts, f.LegAnswered)
    assert answered == f.LegAnswered(dial.leg, by=caller)
    bridged = [x for x in facts if isinstance(x, f.Bridged)]
    assert {b.channel for b in bridged} == {caller, dial.leg}
    gone = {(x.channel, x.cause) for x in facts if isinstance(x, f.ChannelGone)}
    # bob hung up, the caller followed (the two Hangups come in either order)
    assert gone == {(dial.leg, "NORMAL_CLEARING"), (caller, "NORMAL_CLEARING")}
    assert not [x for x in facts if isinstance(x, f.LegFailed)]  # answered: no way back
    # only bob's channel got a hang-up request (his BYE): he ended the call
    assert [x.channel for x in facts if isinstance(x, f.HangupRequested)] == [dial.leg]
    order = calls(facts)
    assert (
        order.index(arrived) < order.index(dial) < order.index(answered) < order.index(bridged[0])
    )


def test_agent_phone_states_become_presence() -> None:
    facts = facts_of("bridge_answered.raw")
    facts = facts[facts.index(one(facts, f.CallerArrived)) :]  # (the phone started before)
    phone = [x.presence for x in facts if isinstance(x, f.DeviceChanged) and x.endpoint == "1002"]
    # rung, on the call, free again (then the test's phone was stopped: unreachable)
    assert phone[:3] == ["busy", "busy", "available"]
    assert phone[3:] in ([], ["offline"])


def test_busy_agent_then_the_next_answers() -> None:
    facts = facts_of("bridge_busy.raw")
    caller = one(facts, f.CallerArrived).call_id  # type: ignore[attr-defined]
    started = [x for x in facts if isinstance(x, f.LegRinging)]
    assert [s.by for s in started] == [caller, caller]
    busy_leg, answered_leg = started[0].leg, started[1].leg
    failed = [x for x in facts if isinstance(x, f.LegFailed)]
    # the Dial's end only: the dialplan's own word after it (ImplusRingEnded, needed when
    # no agent channel was made) repeats it and is dropped - by the time it arrives the
    # caller may be ringing the next agent, whose ring a leg-less failure would end
    assert failed == [f.LegFailed(busy_leg, "busy", "USER_BUSY", by=caller)]
    users = [m for m in messages_of("bridge_busy.raw") if m.get("UserEvent") == "ImplusRingEnded"]
    assert users, "the recording holds the dialplan's ImplusRingEnded"
    gone = [x for x in facts if isinstance(x, f.ChannelGone) and x.channel == busy_leg]
    assert [(g.cause, g.cause_txt) for g in gone] == [("USER_BUSY", "User busy")]
    assert one(facts, f.LegAnswered) == f.LegAnswered(answered_leg, by=caller)


def test_no_answer_then_the_caller_gives_up() -> None:
    facts = facts_of("bridge_no_answer.raw")
    arrived = one(facts, f.CallerArrived)
    caller = arrived.call_id  # type: ignore[attr-defined]
    failed = [x for x in facts if isinstance(x, f.LegFailed)]
    assert [(x.reason, x.cause, x.by) for x in failed] == [("no_answer", "NO_ANSWER", caller)]
    assert failed[0].leg  # from the Dial's DialEnd; the ImplusRingEnded after it is dropped
    gone = {x.channel: x.cause for x in facts if isinstance(x, f.ChannelGone)}
    # the caller's BYE carries no Reason header (cause 0), after it went back on hold
    assert gone[caller] == "UNKNOWN"
    assert list(gone)[-1] == caller
    assert not [x for x in facts if isinstance(x, f.Bridged)]


def test_outbound_call_agent_first_then_customer() -> None:
    facts = facts_of("bridge_outbound.raw")
    answered = [x for x in facts if isinstance(x, f.LegAnswered)]
    agent_leg = answered[0].leg  # the agent answered (ImplusOutbound, OriginateResponse)
    assert all(a.by == "" for a in answered if a.leg == agent_leg)
    dial = one(facts, f.LegRinging)
    assert isinstance(dial, f.LegRinging)
    assert dial.by == agent_leg
    customer = [a for a in answered if a.by == agent_leg]
    assert customer == [f.LegAnswered(dial.leg, by=agent_leg)]
    gone = [x.channel for x in facts if isinstance(x, f.ChannelGone)]
    assert gone == [dial.leg, agent_leg]  # the customer hung up first


def test_entry_event_repeats_language_and_channel_variables() -> None:
    """The ImplusEntry event carries `Language` twice (snapshot + ours) and one
    `ChanVariable` per `channelvars` entry; the fact takes the values once."""
    text = (DATA / "bridge_answered.raw").read_bytes().decode()
    block = next(b for b in text.split("\r\n\r\n") if "UserEvent: ImplusEntry" in b)
    assert block.count("\r\nLanguage: en") == 2
    assert block.count("\r\nChanVariable: IMPLUS_") == 4
    (message,) = AmiStreamParser().feed(
        b"Asterisk Call Manager/11.0.0\r\n" + block.encode() + b"\r\n\r\n"
    )
    event = ev.from_message(message)
    assert isinstance(event, ev.UserEvent)
    assert event.chan_vars["IMPLUS_ENTRY"] == "booking_en"
    arrived = Translator().feed(event)[0]
    assert isinstance(arrived, f.CallerArrived)
    assert arrived.language == "en"


def test_originate_to_an_endpoint_that_cannot_be_dialled() -> None:
    """`Uniqueid: <unknown>` (no channel was ever made): only the ActionID ties it."""
    raw = (
        b"Asterisk Call Manager/11.0.0\r\n"
        b"Event: OriginateResponse\r\nPrivilege: call,all\r\n"
        b"ActionID: " + originate_id("implus-o1").encode() + b"\r\n"
        b"Response: Failure\r\nChannel: PJSIP/1009\r\nContext: implus-agent\r\nExten: s\r\n"
        b"Application: \r\nData: \r\nReason: 0\r\nUniqueid: <unknown>\r\n"
        b"CallerIDNum: <unknown>\r\nCallerIDName: <unknown>\r\n\r\n"
    )
    assert translate([raw]) == [f.LegFailed("implus-o1", "unavailable", "UNKNOWN")]


@pytest.mark.parametrize(
    ("reason", "dial_status", "cause", "expected"),
    [
        (0, "BUSY", 0, "busy"),
        (0, "", 17, "busy"),
        (0, "", 21, "busy"),
        (5, "", 0, "busy"),
        (3, "", 0, "no_answer"),
        (0, "NOANSWER", 0, "no_answer"),
        (0, "", 19, "no_answer"),
        (0, "CHANUNAVAIL", 0, "unavailable"),
        (8, "CONGESTION", 34, "unavailable"),
        (1, "", 16, "unavailable"),
    ],
)
def test_failure_reasons(reason: int, dial_status: str, cause: int, expected: str) -> None:
    assert failure_reason(reason, dial_status, cause) == expected


@pytest.mark.parametrize(
    ("state", "presence"),
    [
        ("NOT_INUSE", "available"),
        ("INUSE", "busy"),
        ("RINGING", "busy"),
        ("RINGINUSE", "busy"),
        ("ONHOLD", "busy"),
        ("BUSY", "busy"),
        ("UNAVAILABLE", "offline"),
        ("INVALID", "offline"),
        ("UNKNOWN", "offline"),
        ("something new", "offline"),
    ],
)
def test_device_presence(state: str, presence: str) -> None:
    assert device_presence(state) == presence


@pytest.mark.parametrize("name", sorted(p.name for p in DATA.glob("*.raw")))
def test_fast_event_path_equals_panoramisk_messages(name: str) -> None:
    """The connection decodes unsolicited events with `wire.parse_headers` (no panoramisk
    Message): the dataclasses must be the same as through panoramisk, repeated headers
    (ChanVariable, Language) included."""
    from panoramisk.message import Message

    from ami_bridge.wire import header, parse_headers

    blocks = [b for b in AmiStreamParser().blocks((DATA / name).read_bytes()) if "Event:" in b]
    assert blocks
    for block in blocks:
        fast = ev.from_message(parse_headers(block))
        slow = ev.from_message(Message.from_line(block))
        if isinstance(fast, ev.OtherEvent) and isinstance(slow, ev.OtherEvent):
            # panoramisk drops a header with nothing after its colon (`AppData:`)
            kept = {k: v for k, v in fast.headers.items() if v != ""}
            assert kept == {k: v for k, v in slow.headers.items() if v != ""}, block
            continue
        assert fast == slow, block
        assert header(block, "Event") == fast.event


def test_a_dial_that_made_no_channel_is_told_by_the_dialplan_alone() -> None:
    """No agent channel (an unreachable endpoint): no DialEnd, so the dialplan's
    ImplusRingEnded is the only word that the ring ended, and it is a fact."""
    t = Translator()
    assert t.feed(user_event("c1", "ImplusRingEnded", Status="CHANUNAVAIL")) == [
        f.LegFailed("", "unavailable", "SUBSCRIBER_ABSENT", by="c1")
    ]


def test_the_dialplans_word_after_a_dialend_is_not_taken_for_the_next_ring() -> None:
    """Alice busy (DialEnd), the router offers bob, and the caller's next ring (no channel
    yet) begins before the dialplan's ImplusRingEnded of alice's Dial arrives: that event
    must not end bob's ring. A later ring that makes no channel is still told."""
    t = Translator()
    assert t.feed(dial_end("c1", "leg-a", "BUSY")) == [
        f.LegFailed("leg-a", "busy", "USER_BUSY", by="c1")
    ]
    assert t.feed(user_event("c1", "ImplusRingEnded", Status="BUSY")) == []
    assert t.feed(user_event("c1", "ImplusRingEnded", Status="CHANUNAVAIL")) == [
        f.LegFailed("", "unavailable", "SUBSCRIBER_ABSENT", by="c1")
    ]
    # the consult Dial of an agent's channel: the same pairing
    assert t.feed(dial_end("agent-1", "leg-t", "NOANSWER"))
    assert t.feed(user_event("agent-1", "ImplusConsultEnded", Status="NOANSWER")) == []
