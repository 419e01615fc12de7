"""The fake FreeSWITCH against the real one: each recorded scenario is replayed against the
fixture - the very bytes the recording client sent, with the same customer actions - and
the fixture's output is compared with what FreeSWITCH 1.11.1 sent: the same messages and
content types, the same header names in the same order, the same reply texts and bodies,
the same values where they are not per-call noise (times, SIP tags), and FreeSWITCH's
write boundaries (each read of the recording ends where the fixture ended a write).

A plain blocking socket is the client here: no ESL library is involved in the comparison.
"""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Callable
from urllib.parse import unquote

import pytest
from freeswitch_fixture.phones import Answer
from freeswitch_fixture.server import FakeFreeSwitch
from freeswitch_fixture.transcripts import NAMES, Transcript, load

from esl_bridge.wire import Frame, FrameReader

Action = Callable[[FakeFreeSwitch], object]

CALLER_03 = "931cc51a-8e99-4df5-bd9b-7726f0739a03"
CALLER_04 = "eab7fd99-1ef6-444d-b9a6-36a809fb8f67"
CALLER_06 = "401d0295-6e8b-4bba-b9c2-e7c00b285453"


def _entry_call(uuid: str, port: int) -> Action:
    def call(fs: FakeFreeSwitch) -> None:
        fs.calls.inbound_call(
            "800",
            "sipp",
            variables=[("service", "booking")],
            caller_host=f"127.0.0.1:{port}",
            profile="loopback5080",
            uuid=uuid,
        )

    return call


def _call_and_hang_up(uuid: str, port: int) -> Action:
    def both(fs: FakeFreeSwitch) -> None:
        _entry_call(uuid, port)(fs)
        fs.calls.hangup(uuid)

    return both


def _agent_phone(fs: FakeFreeSwitch) -> None:
    fs.calls.add_phone(
        "agent1001", Answer(after=0.0), register=False, contact_host="127.0.0.1:5094"
    )


# What the recording's customer and phones did, around the client's commands:
# (setup, {index of a sent command: action done before sending it}, final action, and how
# many messages to wait for before that final action).
SCENARIOS: dict[str, tuple[Action | None, dict[int, Action], Action | None, int]] = {
    "01-auth-api-exit": (None, {}, None, 0),
    "02-auth-bad-password": (None, {}, None, 0),
    "03-inbound-call-park-hangup": (None, {}, _call_and_hang_up(CALLER_03, 5093), 3),
    "04-agent-first-bridge": (
        _agent_phone,
        {2: _entry_call(CALLER_04, 5095)},
        lambda fs: fs.calls.hangup(CALLER_04),
        47,
    ),
    "05-originate-no-answer": (None, {}, None, 0),
    "06-inbound-call-json": (None, {}, _call_and_hang_up(CALLER_06, 5096), 3),
}


def _numbers_out(text: str) -> str:
    units = r"(year|day|hour|minute|second|millisecond|microsecond)s\b"
    return re.sub(units, r"\1", re.sub(r"\d+", "N", text))


def frames(data: bytes) -> list[Frame]:
    return list(FrameReader().feed(data))


class Replay:
    """A recording's client, replayed byte for byte against the fixture."""

    def __init__(self, name: str) -> None:
        self.transcript: Transcript = load(name)
        self.fs = FakeFreeSwitch().start()
        self.received = b""
        self.closed = False

    def _read_until(self, count: int) -> None:
        deadline = time.monotonic() + 10
        while len(frames(self.received)) < count and not self.closed:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"fixture sent {len(frames(self.received))} of {count} messages"
                )
            data = self.sock.recv(65536)
            self.received += data
            self.closed = not data

    def _handled(self, commands: int) -> None:
        """Wait until the fixture has answered `commands` commands (subscriptions are set)."""
        deadline = time.monotonic() + 10
        while not self.fs.all_listeners or self.fs.all_listeners[0].handled < commands:
            if time.monotonic() > deadline:
                raise AssertionError(f"fixture did not answer {commands} commands")
            time.sleep(0.005)

    def run(self) -> tuple[bytes, list[bytes]]:
        setup, before_send, final, final_after = SCENARIOS[self.transcript.name]
        if setup:
            setup(self.fs)
        self.sock = socket.create_connection(("127.0.0.1", self.fs.port), timeout=10)
        try:
            return self._exchange(before_send, final, final_after)
        finally:
            self.sock.close()
            self.fs.stop()

    def _exchange(
        self, before_send: dict[int, Action], final: Action | None, final_after: int
    ) -> tuple[bytes, list[bytes]]:
        recorded_so_far = b""
        sent = 0
        for step in self.transcript.steps:
            if step.kind == "recv":
                recorded_so_far += step.data
            elif step.kind == "send":
                if sent in before_send:
                    self._handled(sent)
                    before_send[sent](self.fs)
                self._read_until(len(frames(recorded_so_far)))
                self.sock.sendall(step.data)
                sent += 1
        if final is not None:
            self._handled(sent)
            self._read_until(final_after)
            final(self.fs)
        self._read_until(len(frames(self.transcript.received)))
        if self.transcript.closed_by_server:
            self._read_until(10**6)  # until the fixture closes too
        return self.received, list(self.fs.all_listeners[0].writes)


@pytest.fixture(scope="module")
def replays() -> dict[str, tuple[bytes, list[bytes]]]:
    return {name: Replay(name).run() for name in NAMES}


def _event_headers(frame: Frame) -> list[tuple[str, str]]:
    if frame.content_type == "text/event-json":
        return [(k, str(v)) for k, v in json.loads(frame.body, object_pairs_hook=list)]
    head = frame.body.partition(b"\n\n")[0].decode()
    return [(k, unquote(v)) for k, _, v in (line.partition(": ") for line in head.split("\n"))]


# Values that are the same in every call of a scenario (the rest - times, SIP tags and
# ports of the recording's sipp, RTP ports - differ between two real calls too).
SEMANTIC = re.compile(
    r"Event-Name|Event-Subclass|Event-Calling-(File|Function|Line-Number)|Unique-ID|"
    r"Channel-Call-UUID|Channel-State|Channel-Call-State|Channel-State-Number|Answer-State|"
    r"Call-Direction|Channel-Name|Caller-Caller-ID-(Number|Name)|Caller-Destination-Number|"
    r"Hangup-Cause|Bridge-[AB]-Unique-ID|Other-Type|Other-Leg-Unique-ID|Job-UUID|Job-Command|"
    r"Job-Command-Arg|Application|Application-Data|Original-Channel-Call-State|"
    r"variable_(service|hangup_cause|hangup_cause_q850|origination_uuid|implus_role|"
    r"originate_timeout|current_application|bridge_uuid|signal_bond|sip_term_status|"
    r"proto_specific_hangup_cause|direction|uuid|call_uuid)"
)


def _uuid_map(recorded: list[Frame], fixture: list[Frame]) -> dict[str, str]:
    """Fixture UUIDs -> recorded ones, by order of first appearance (05's agent leg has a
    UUID chosen by the switch, as no origination_uuid was given)."""
    pattern = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
    found: dict[str, str] = {}
    for rec, fix in zip(recorded, fixture, strict=True):
        if rec.content_type.startswith("text/event"):
            for (_, rv), (_, fv) in zip(_event_headers(rec), _event_headers(fix), strict=False):
                for r, f in zip(pattern.findall(rv), pattern.findall(fv), strict=False):
                    found.setdefault(f, r)
    return found


@pytest.mark.parametrize("name", NAMES)
def test_same_messages_types_and_replies(name: str, replays: dict) -> None:
    recorded = frames(load(name).received)
    fixture = frames(replays[name][0])
    assert [f.content_type for f in fixture] == [f.content_type for f in recorded]
    for rec, fix in zip(recorded, fixture, strict=True):
        assert [k for k, _ in fix.headers] == [k for k, _ in rec.headers]
        assert fix.get("Reply-Text") == rec.get("Reply-Text")
        assert fix.get("Job-UUID") == rec.get("Job-UUID")
        if rec.content_type in ("api/response", "text/disconnect-notice"):
            if rec.text().startswith("UP "):  # `status`: the same lines, other numbers
                assert _numbers_out(fix.text()) == _numbers_out(rec.text())
            else:
                assert fix.body == rec.body


@pytest.mark.parametrize("name", [n for n in NAMES if n != "06-inbound-call-json"])
def test_same_event_headers_in_the_same_order(name: str, replays: dict) -> None:
    recorded = [f for f in frames(load(name).received) if f.content_type == "text/event-plain"]
    fixture = [f for f in frames(replays[name][0]) if f.content_type == "text/event-plain"]
    uuids = _uuid_map(recorded, fixture)
    known = re.compile("|".join(map(re.escape, uuids)) or "^$")
    for rec, fix in zip(recorded, fixture, strict=True):
        rec_headers, fix_headers = _event_headers(rec), _event_headers(fix)
        assert [k for k, _ in fix_headers] == [k for k, _ in rec_headers], rec_headers[0]
        for (key, rec_value), (_, fix_value) in zip(rec_headers, fix_headers, strict=True):
            if SEMANTIC.fullmatch(key):
                mapped = known.sub(lambda m: uuids[m.group()], fix_value)
                assert mapped == rec_value, (rec_headers[0][1], key)
        assert fix.body.partition(b"\n\n")[2] == rec.body.partition(b"\n\n")[2]


def test_json_events_have_the_recorded_shape(replays: dict) -> None:
    """06 is another call of 03's dialplan; its CHANNEL_PARK had two more SIP variables and
    the SIP ones in another order than 03's, on which the fixture is modelled. So: the same
    events, the same non-variable headers in order, variables the recording also had."""
    json_events = "text/event-json"
    recorded = [
        f for f in frames(load("06-inbound-call-json").received) if f.content_type == json_events
    ]
    fixture = [
        f for f in frames(replays["06-inbound-call-json"][0]) if f.content_type == json_events
    ]
    assert len(fixture) == len(recorded) == 2
    for rec, fix in zip(recorded, fixture, strict=True):
        rec_headers, fix_headers = _event_headers(rec), _event_headers(fix)
        plain = [k for k, _ in rec_headers if not k.startswith("variable_")]
        assert [k for k, _ in fix_headers if not k.startswith("variable_")] == plain
        assert {k for k, _ in fix_headers} <= {k for k, _ in rec_headers}
        for key in ("Event-Name", "Unique-ID", "Channel-Name", "Hangup-Cause", "variable_service"):
            assert dict(fix_headers).get(key) == dict(rec_headers).get(key)
        assert fix.body.startswith(b'{"Event-Name":"')
        assert fix.body.endswith(b'"}')


def _split_points(stream: bytes, boundaries: list[int]) -> list[set[str]]:
    """For each message: where inside it a read/write ended - 'E' after its header block,
    'B' at its end, 'X' anywhere else."""
    marks: list[set[str]] = []
    offset = 0
    spans = []
    for frame in frames(stream):
        envelope = stream.index(b"\n\n", offset) + 2 - offset
        total = envelope + len(frame.body)
        spans.append((offset, offset + envelope, offset + total))
        offset += total
    for start, head_end, end in spans:
        inside = {b for b in boundaries if start < b <= end}
        marks.append({"E" if b == head_end else "B" if b == end else "X" for b in inside})
    return marks


@pytest.mark.parametrize("name", NAMES)
def test_framing_follows_freeswitch_writes(name: str, replays: dict) -> None:
    transcript = load(name)
    cumulative, total = [], 0
    for read in transcript.reads:
        total += len(read)
        cumulative.append(total)
    recorded_marks = _split_points(transcript.received, cumulative)
    received, writes = replays[name]
    cumulative, total = [], 0
    for write in writes:
        total += len(write)
        cumulative.append(total)
    fixture_marks = _split_points(received, cumulative)
    assert len(recorded_marks) == len(fixture_marks)
    for index, (rec, fix) in enumerate(zip(recorded_marks, fixture_marks, strict=True)):
        assert "X" not in rec, f"FreeSWITCH split message {index} inside a write"
        assert rec <= fix, f"message {index}: FreeSWITCH ended a read at {rec}, fixture wrote {fix}"
