"""The call record and the call book: what a restarted bridge finds again."""

from __future__ import annotations

from callflow.records import Call, CallBook, CallKind, CallState
from callflow.steps import step
from router.client import RouterClient


def test_call_book_survives_a_restart(redis_url: str) -> None:
    client = RouterClient.from_url(redis_url)
    key = "implus:{t}:pbx:p:calls"
    book = CallBook(key)
    call = Call(id="1.5", kind=CallKind.INBOUND, request="r", session="s", exten="800")
    client.run(step(book.save_step(call, 1)))
    call.state, call.offer, call.leg = CallState.RINGING, "o1", "implus-o1"
    client.run(step(book.save_step(call, 2)))
    call.offer, call.leg = "o2", "implus-o2"
    client.run(step(book.save_step(call, 3)))
    # a later event of the first leg still finds the call; so does the current offer
    assert book.find("implus-o1") is call
    assert book.find("implus-o2") is call
    assert book.by_offer("o2") is call
    assert book.by_offer("o1") is None
    assert book.of_agent("") == []
    out = Call(id="implus-c9", kind=CallKind.CLICK_TO_CALL, leg="implus-c9", number="555")
    client.run(step(book.save_step(out, 4)))

    again = CallBook(key)
    assert client.run(again.load()) == 2
    loaded = again.get("1.5")
    assert loaded == call
    assert again.find("implus-o2") == call
    assert again.get("implus-c9") == out

    assert loaded is not None
    client.run(step(again.drop_step(loaded)))
    assert again.find("implus-o2") is None
    assert again.by_offer("o2") is None
    assert client.redis.hkeys(key) == ["implus-c9"]
    client.redis.hset(key, "junk", "{not json")
    third = CallBook(key)
    assert client.run(third.load()) == 1  # the unreadable record is dropped, not fatal
    assert client.redis.hkeys(key) == ["implus-c9"]
    client.close()


def test_book_indexes_agents_and_forgets_replaced_ones() -> None:
    book = CallBook("k")
    call = Call(id="c1", kind=CallKind.INBOUND, agent="alice", offer="o1", leg="l1")
    book.index(call)
    assert book.of_agent("alice") == [call]
    call.agent, call.offer, call.leg = "bob", "o2", "l2"
    book.index(call)
    assert book.of_agent("alice") == []
    assert book.of_agent("bob") == [call]
    assert book.find("l1") is call  # old legs stay until the call ends
    assert book.by_offer("o1") is None
    book.drop_step(call)
    assert (book.find("l1"), book.find("l2"), book.of_agent("bob")) == (None, None, [])


def test_a_record_round_trips_its_json_with_any_text() -> None:
    """Written by orjson, read by the json module: every field, enums and non-ASCII
    names (a caller's display name) included."""
    import json

    call = Call(
        id="1.6", kind=CallKind.CALLBACK, state=CallState.RINGING, caller_name='Zoë "Z" \\ 李',
        recording_ms=1_700_000_000_000, spy_answered=True,
    )  # fmt: skip
    text = call.to_json()
    assert Call.from_json(text) == call
    assert json.loads(text)["kind"] == "callback" and json.loads(text)["state"] == "ringing"
