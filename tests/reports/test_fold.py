"""What events become (pure, no database): personal data left out, rows folded, rows made
from what a later event says when the first one was trimmed."""

from __future__ import annotations

import json

from feed import Feed, known_sequence, ms

from reports.events import event_row, from_stream, id_key
from reports.fold import Context, Rows, apply, wanted


def fold(entries: list[tuple[str, dict[str, str]]], rows: Rows | None = None) -> Rows:
    rows = rows or Rows()
    for i, fields in entries:
        apply(rows, from_stream(i, fields), Context(lambda user: f"key({user})"))
    return rows


def test_no_number_name_or_text_reaches_an_event_row() -> None:
    f = Feed()
    f.add(ms(0), "session.opened", session="s1", user="+441234567890", service="booking")
    f.add(ms(0), "offer.created", offer="o1", request="r1", session="s1", agent="alice",
          channel="voice", user="+441234567890", callback="+441234567890", service="b")  # fmt: skip
    entry = {"from": "customer", "text": "my card is 4111 1111", "number": "+441234567890",
             "name": "Jane Doe", "call_id": "leg-1", "cause": "NORMAL_CLEARING", "duration_s": 42}  # fmt: skip
    f.add(ms(1), "session.event", session="s1", entry="9-0", etype="call.hangup",
          data=json.dumps(entry))  # fmt: skip
    text = " ".join(json.dumps(event_row(from_stream(i, fields))) for i, fields in f.entries)
    for personal in ("+441234567890", "4111", "Jane", "Doe"):
        assert personal not in text
    kept = json.loads(event_row(from_stream(*f.entries[2]))["detail"])
    assert kept == {
        "entry": "9-0",
        "etype": "call.hangup",
        "data": {
            "from": "customer",
            "call_id": "leg-1",
            "cause": "NORMAL_CLEARING",
            "duration_s": 42,
        },
    }


def test_events_are_timed_by_the_router_clock_else_the_stream_id() -> None:
    assert from_stream("5-0", {"type": "x", "at": "1234"}).at == 1234
    assert from_stream("5-0", {"type": "x"}).at == 5
    assert id_key("10-2") > id_key("9-30")  # as numbers, not strings


def test_the_known_sequence_folds_into_contacts_offers_sessions_and_periods() -> None:
    rows = fold(known_sequence().entries)
    c2 = rows.contacts["c2"]
    assert (c2["queue"], c2["offers"], c2["no_answers"], c2["agent"], c2["wait_ms"]) == (
        "booking", 2, 1, "alice", 30_000,
    )  # fmt: skip
    assert rows.contacts["c4"]["transferred_out"] == 1
    c5 = rows.contacts["c5"]
    assert (c5["transferred_from"], c5["service"], c5["queue"], c5["agent"]) == (
        "c4", "billing", "billing", "bob",
    )  # fmt: skip
    assert rows.contacts["c3"]["outcome"] == "abandoned"
    assert rows.contacts["c7"]["end_reason"] == "overflow to voicemail"
    assert rows.offers["o4"]["outcome"] == "rejected"
    assert rows.sessions["s1"]["user_key"] == "key(+441234500001)"
    assert rows.sessions["s1"]["disposition"] == "done"
    periods = sorted(rows.agent_periods.values(), key=lambda p: (p["agent"], p["start_at"]))
    assert [(p["agent"], p["status"], p["end_at"] is None) for p in periods] == [
        ("alice", "available", False),
        ("alice", "offline", True),
        ("bob", "available", False),
        ("bob", "away", True),
    ]
    assert rows.open_periods == {"alice": periods[1]["id"], "bob": periods[3]["id"]}


def test_a_contact_whose_start_was_trimmed_is_made_from_its_answer() -> None:
    f = Feed()
    f.add(ms(1), "offer.accepted", offer="o9", request="r9", session="s9", agent="bob",
          channel="chat", wait_ms=15_000)  # fmt: skip
    f.add(ms(3), "contact.ended", request="r9", session="s9", agent="bob", channel="chat",
          reason="done", handle_ms=120_000, wrapup_ms=0)  # fmt: skip
    row = fold(f.entries).contacts["r9"]
    assert row["created_at"] == ms(1) - 15_000
    assert (row["outcome"], row["wait_ms"], row["handle_ms"]) == ("answered", 15_000, 120_000)


def test_a_cancel_after_an_answer_does_not_turn_it_into_an_abandon() -> None:
    f = Feed()
    f.add(ms(0), "request.created", request="r1", session="s1", channel="chat", service="x")
    f.add(ms(1), "offer.accepted", offer="o1", request="r1", session="s1", agent="a",
          channel="chat", wait_ms=60_000)  # fmt: skip
    f.add(ms(2), "request.cancelled", request="r1", session="s1", channel="chat",
          reason="late", previous="offered", waited_ms=120_000)  # fmt: skip
    assert fold(f.entries).contacts["r1"]["outcome"] == "answered"


def test_wanted_names_the_rows_a_batch_touches() -> None:
    events = [from_stream(i, fields) for i, fields in known_sequence().entries]
    w = wanted(events)
    assert w.requests == {f"c{n}" for n in range(1, 8)}
    assert w.offers == {f"o{n}" for n in range(1, 7)}
    assert w.sessions == {"s1", "s2", "s3", "s4", "s5", "s6"}
    assert w.agents == {"alice", "bob"}


def test_status_periods_continue_across_batches() -> None:
    f = known_sequence()
    first = fold(f.entries[:10])
    alice = first.open_periods["alice"]
    carried = Rows(
        agent_periods={alice: dict(first.agent_periods[alice])}, open_periods={"alice": alice}
    )
    later = Feed()
    later.add(ms(30, hour=11), "agent.status", agent="alice", status="away", reason="break",
              previous="available")  # fmt: skip
    rows = fold(later.entries, carried)
    assert rows.agent_periods[alice]["end_at"] == ms(30, hour=11)
    assert rows.dirty["agent_periods"] == {alice, later.entries[0][0]}


def test_a_contact_moved_to_another_queue_counts_there() -> None:
    f = Feed()
    f.add(ms(0), "request.created", request="r1", session="s1", channel="chat", service="b")
    f.add(ms(0), "request.queued", request="r1", session="s1", channel="chat",
          queues='["booking"]')  # fmt: skip
    f.add(ms(1), "request.moved", request="r1", session="s1", channel="chat",
          queues='["booking"]', queue="billing", agent="", by="boss", previous="queued")  # fmt: skip
    assert fold(f.entries).contacts["r1"]["queue"] == "billing"
    f.add(ms(2), "request.moved", request="r1", session="s1", channel="chat",
          queues='["billing"]', queue="", agent="bob", by="boss", previous="queued")  # fmt: skip
    assert fold(f.entries).contacts["r1"]["queue"] == "billing"  # moved to an agent: stays
