"""The wall board's recent past (reports/live.py) and supervisor actions (reports/actions.py)
from stored events, on SQLite and PostgreSQL, against figures worked out by hand.

Now is 09:00. booking (voice, target 20 s, the default):
  F  07:49:50 -> answered 07:50:00 (10 s, in SL)      before the hour: rolling SL only
  A  07:50    -> answered 08:05 (15 min, not in SL)    waiting 08:01-08:04
  B  08:10:30 -> answered 08:10:40 (in SL)             never waiting at a minute point
  C  08:20    -> abandoned 08:22                        waiting 08:20-08:21
  D  08:50    -> still waiting                          waiting 08:50-09:00
billing (chat):
  E  08:55    -> answered 08:55:05 (in SL)
"""

from __future__ import annotations

import pytest
from feed import Feed, accept, contact, ms, offer
from sqlalchemy.engine import Engine

from reports.actions import supervisor_actions
from reports.live import POINTS, recent
from reports.store import Store

NOW = ms(0, hour=9)


def answered(f: Feed, rid: str, created: int, at: int, queue: str, channel: str = "voice") -> None:
    contact(f, rid, f"s-{rid}", created, channel=channel, service=queue, queue=queue)
    offer(f, f"o-{rid}", rid, f"s-{rid}", "alice", at, channel)
    accept(f, f"o-{rid}", rid, f"s-{rid}", "alice", at, channel, at - created)


def sequence() -> Feed:
    f = Feed()
    answered(f, "F", ms(49, 50, hour=7), ms(50, hour=7), "booking")
    contact(f, "A", "s-A", ms(50, hour=7), channel="voice", service="booking", queue="booking")
    offer(f, "o-A", "A", "s-A", "alice", ms(5), "voice")
    accept(f, "o-A", "A", "s-A", "alice", ms(5), "voice", ms(5) - ms(50, hour=7))
    answered(f, "B", ms(10, 30), ms(10, 40), "booking")
    contact(f, "C", "s-C", ms(20), channel="voice", service="booking", queue="booking")
    f.add(ms(22), "request.cancelled", request="C", session="s-C", channel="voice",
          reason="caller hung up", previous="queued", waited_ms=120_000)  # fmt: skip
    contact(f, "D", "s-D", ms(50), channel="voice", service="booking", queue="booking")
    answered(f, "E", ms(55), ms(55, 5), "billing", "chat")
    return f


def test_recent_windows_and_series(engine: Engine) -> None:
    Store(engine, b"k").ingest(sequence().entries)
    with engine.connect() as conn:
        board = recent(conn, NOW)
    assert board["now"] == NOW and len(board["points"]) == POINTS
    assert board["points"][0] == ms(1) and board["points"][-1] == NOW
    rows = {(q["queue"], q["channel"]): q for q in board["queues"]}
    assert set(rows) == {("booking", "voice"), ("billing", "chat")}
    booking = rows[("booking", "voice")]
    assert booking["windows"]["1h"] == {
        "offered": 3,  # B C D
        "answered": 2,  # A B
        "answered_in_sl": 1,
        "abandoned": 1,
        "overflowed": 0,
        "service_level": 0.3333,
    }
    assert booking["windows"]["15m"] == {
        "offered": 1,
        "answered": 0,
        "answered_in_sl": 0,
        "abandoned": 0,
        "overflowed": 0,
        "service_level": None,
    }
    waiting = booking["series"]["waiting"]
    want = [0] * POINTS
    for k in (*range(4), 19, 20, *range(49, 60)):
        want[k] = 1
    assert waiting == want
    level = booking["series"]["service_level"]
    assert level[0] == level[3] == 1.0  # F (07:50) is in the 15 minutes before
    assert level[4] == 0.0  # A only
    assert level[10] == 0.5  # A and B
    assert level[19] == 1.0 and level[21] == 0.5  # B; B and C
    assert level[40] is None
    assert sum(booking["series"]["answered"]) == 2 and booking["series"]["abandoned"][21] == 1
    billing = rows[("billing", "chat")]
    assert billing["windows"]["15m"]["service_level"] == 1.0
    # E came at 08:55:00 sharp, answered 5 s later: waiting at the 08:55 point
    assert billing["series"]["waiting"] == [0] * 54 + [1] + [0] * 5
    with engine.connect() as conn:  # an hour later only D is left, still waiting
        later = recent(conn, NOW + 3_600_000)
    [only] = later["queues"]
    assert only["series"]["waiting"] == [1] * POINTS
    with engine.connect() as conn:  # past the horizon it is not on the board
        assert recent(conn, NOW + 3_600_000, horizon_ms=3_600_000)["queues"] == []


def test_supervisor_actions(engine: Engine) -> None:
    f = Feed()
    f.add(ms(1), "agent.status", agent="alice", status="available", reason="", previous="offline")
    f.add(ms(2), "agent.status", agent="alice", status="away", reason="meeting",
          previous="available", by="boss")  # fmt: skip
    contact(f, "R", "s-R", ms(3), channel="chat", service="booking", queue="booking")
    f.add(ms(4), "request.moved", request="R", session="s-R", channel="chat",
          queues='["booking"]', queue="billing", agent="", by="boss", previous="queued")  # fmt: skip
    f.add(ms(5), "agent.status", agent="bob", status="offline", reason="", previous="away",
          by="chief")  # fmt: skip
    Store(engine, b"k").ingest(f.entries)
    with engine.connect() as conn:
        rows = supervisor_actions(conn, ms(0), ms(10))
        assert supervisor_actions(conn, ms(0), ms(5)) == rows[1:]
    assert [(r["at"], r["by"], r["action"]) for r in rows] == [
        (ms(5), "chief", "set offline"),
        (ms(4), "boss", "moved"),
        (ms(2), "boss", "set away"),
    ]
    assert rows[1] | {"at": 0} == {
        "at": 0,
        "by": "boss",
        "action": "moved",
        "agent": "",
        "request": "R",
        "session": "s-R",
        "channel": "chat",
        "status": "",
        "reason": "",
        "queue": "billing",
        "previous": "queued",
    }
    assert (rows[2]["agent"], rows[2]["reason"], rows[2]["previous"]) == (
        "alice",
        "meeting",
        "available",
    )


@pytest.mark.parametrize("minutes", [0, 59])
def test_an_empty_database_gives_an_empty_board(engine: Engine, minutes: int) -> None:
    with engine.connect() as conn:
        board = recent(conn, NOW + minutes * 60_000)
    assert board["queues"] == [] and len(board["points"]) == POINTS
