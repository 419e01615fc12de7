"""The domain values the workers build per request and per agent change without the
dataclasses' ``__init__`` (router.model._instance): equal, field for field, to the ones
``__init__`` builds."""

from __future__ import annotations

import dataclasses
import json

import pytest

from router.model import (
    AgentProfile,
    AgentState,
    AgentStatus,
    Channel,
    RequestState,
    RoutingRequest,
)

REQUEST = {
    "id": "r1", "channel": "voice", "service": "sales", "user": "u1", "session": "s1",
    "created": "1000", "state": "offered", "priority": "3", "customer": '{"vip": 2}',
    "pbx": "pbx1", "call_id": "c1", "callback": "", "owner": "alice", "force_queue": "q",
    "force_agent": "bob", "forced_at": "900", "returning": "1", "max_wait": "40",
    "queues": '["sales", "general"]', "rule": "vip", "agent": "carol", "offer": "o1",
    "attempts": "2", "rej:dave": "5000", "rej:erin": "6000", "accepted_at": "0",
    "ended_at": "",
}  # fmt: skip


def test_a_request_from_its_hash_equals_the_constructed_one() -> None:
    built = RoutingRequest.from_hash(REQUEST)
    expected = RoutingRequest(
        id="r1", channel=Channel.VOICE, service="sales", user_id="u1", session_id="s1",
        created=1000, state=RequestState.OFFERED, priority=3, customer={"vip": 2}, pbx="pbx1",
        call_id="c1", callback="", owner="alice", force_queue="q", force_agent="bob",
        forced_at=900, returning=True, max_wait=40, queues=("sales", "general"), rule="vip",
        agent="carol", offer="o1", attempts=2, rejected_until={"dave": 5000, "erin": 6000},
        accepted_at=0, ended_at=0,
    )  # fmt: skip
    assert built == expected
    assert set(vars(built)) == {f.name for f in dataclasses.fields(RoutingRequest)}
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.state = RequestState.QUEUED  # type: ignore[misc]


def test_a_minimal_request_gets_the_defaults() -> None:
    built = RoutingRequest.from_hash({"id": "r2", "channel": "chat"})
    assert built == RoutingRequest("r2", Channel.CHAT, "", "", "", 0)


@pytest.mark.parametrize(
    ("extra", "rejected"),
    [
        ({}, {}),  # the known fields alone: no scan for rej:
        ({"rej:dave": "5000"}, {"dave": 5000}),
        ({"some_future_field": "x"}, {}),  # an unknown field: scanned, none found
        ({"some_future_field": "x", "rej:erin": "7.5"}, {"erin": 7}),
    ],
)
def test_a_requests_rejections_are_read_whatever_other_fields_it_has(
    extra: dict[str, str], rejected: dict[str, int]
) -> None:
    plain = {k: v for k, v in REQUEST.items() if not k.startswith("rej:")}
    built = RoutingRequest.from_hash({**plain, **extra})
    assert built.rejected_until == rejected


@pytest.mark.parametrize("value", [None, "", "0", "12", "12.9", "x"])
def test_absent_empty_or_odd_numbers_read_as_before(value: str | None) -> None:
    fields = ("forced_at", "attempts", "accepted_at", "ended_at")
    h = {"id": "r4", "channel": "chat"}
    if value is not None:
        h.update(dict.fromkeys(fields, value))
    built = RoutingRequest.from_hash(h)
    expected = {None: 0, "": 0, "0": 0, "12": 12, "12.9": 12, "x": 0}[value]
    assert [getattr(built, f) for f in fields] == [expected] * 4


@pytest.mark.parametrize("bad", [{"channel": "fax"}, {"state": "lost"}])
def test_an_unknown_channel_or_state_is_refused(bad: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="is not a valid"):
        RoutingRequest.from_hash({"id": "r3", "channel": "chat", **bad})


def test_agent_states_built_for_the_view_equal_the_constructed_ones() -> None:
    profile = AgentProfile(id="alice", capacity={"voice": 1, "chat": 3})
    live = {
        "status": "available", "load:chat": "2", "busy": "2", "idle_since": "10",
        "lease:desktop": "99", "dev:sip": "busy", "v": "7", "last_offer": "50",
    }  # fmt: skip
    state = AgentState(profile).with_live(live)
    expected = AgentState(
        profile, AgentStatus.AVAILABLE, "", {"chat": 2}, 2, 10, 0, {"desktop": 99},
        {"sip": "busy"}, 0, 50, 7,
    )  # fmt: skip
    assert state == expected and state.id == "alice"
    more = state.counted("chat", 1, 70)
    assert more == dataclasses.replace(expected, load={"chat": 3}, busy=3, last_offer=70)
    assert state.load == {"chat": 2}  # the original is unchanged
    back = more.counted("chat", -1, 80)
    assert back == dataclasses.replace(expected, load={"chat": 2}, busy=2, last_offer=70)


@pytest.mark.parametrize(
    "text",
    [
        '{"vip": 2, "tags": ["de"], "nested": {"a": null, "b": true, "c": 1.5e300}}',
        '{"a": NaN, "b": Infinity, "c": -Infinity}',  # orjson refuses: json reads them
        '{"n": 123456789012345678901234567890}',  # orjson would make a float of it
        '{"n": -9223372036854775808, "m": 18446744073709551615}',
        '{"s": "\\u00e9\\ud83d\\ude00", "lone": "\\ud800"}',
        '{"a": 1, "a": 2}',
        '["general", "sales"]',
    ],
)
def test_request_json_fields_read_as_the_json_module_reads_them(text):
    from router.model import _loads

    assert repr(_loads(text)) == repr(json.loads(text))


def test_request_json_fields_that_do_not_parse_raise_as_before():
    from router.model import _loads

    with pytest.raises(json.JSONDecodeError):
        _loads('{"vip": ')
