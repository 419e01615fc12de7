"""Report figures of the known two hours (feed.known_sequence), worked out by hand, on
SQLite and PostgreSQL.

The hand computation (times UTC, service-level targets booking 20 s, billing 30 s):

- 08:00 booking: c1 answered after 10 s (in SL), handled 180 s + 30 s wrap-up; c2 rang
  bob out (a no-answer), answered by alice after 30 s (not in SL), 300 s + 30 s.
  -> offered 2, answered 2, SL 1/2, ASA (10+30)/2 = 20 s, AHT (180+300)/2 = 240 s,
  wrap-up 30 s, no-answers 1.
- 08:00 billing: c3 abandoned after 45 s; c4 rejected by bob, answered by alice after
  12 s, transferred after 300 s (no wrap-up); c5 (the transfer) answered by bob after 8 s,
  600 s. -> offered 3, answered 2, abandoned 1 (45 s), SL 2/3, ASA 10 s, AHT 450 s,
  wrap-up 0 s, transfers 1.
- 09:00 booking: c6 abandoned after 5 s, c7 overflowed. -> offered 2, SL 0.
- alice 08:00: offers o1 o3 o5, all answered; handled 180+300+300 -> AHT 260 s, wrap-up
  (30+30+0)/3 = 20 s, 1 transfer; available all hour -> occupancy (780+60)/3600.
  09:00: available 3600 s, nothing else.
- bob 08:00: offers o2 (rang out), o4 (rejected), o6 (answered; 600 s, accepted 08:55:20);
  occupancy 600/3600. 09:00: available 1800 s, away 1800 s.
"""

from __future__ import annotations

import pytest
from feed import known_sequence, ms
from sqlalchemy.engine import Engine

from reports.check import session_figures
from reports.export import to_csv
from reports.figures import CONTACT_COLUMNS, report
from reports.periods import parse_period
from reports.store import Store

TARGETS = {"booking": 20_000, "billing": 30_000}
NOW = ms(0, hour=12)


@pytest.fixture
def loaded(engine: Engine) -> Engine:
    store = Store(engine, b"test-key", lookup=lambda version: TARGETS, version=1)
    assert store.ingest(known_sequence().entries) > 0
    return engine


def rows(engine: Engine, kind: str, interval: str = "hour", tz: str = "UTC", **period: str):
    p = parse_period(
        period.get("start", "2026-11-30T08:00"), period.get("end", "2026-11-30T10:00"), interval, tz
    )
    with engine.connect() as conn:
        return report(conn, kind, p, NOW)


def by_key(result: list[dict]) -> dict[tuple[str, str], dict]:
    return {(r["interval_start"], r["key"]): r for r in result}


H8, H9 = "2026-11-30T08:00:00+00:00", "2026-11-30T09:00:00+00:00"


def test_queue_report_per_hour(loaded: Engine) -> None:
    got = by_key(rows(loaded, "queue"))
    assert set(got) == {(H8, "booking"), (H8, "billing"), (H9, "booking")}
    assert got[H8, "booking"] == {
        "interval_start": H8,
        "key": "booking",
        "offered": 2,
        "answered": 2,
        "abandoned": 0,
        "abandon_wait_s": None,
        "max_abandon_wait_s": None,
        "overflowed": 0,
        "answered_in_sl": 1,
        "service_level": 0.5,
        "asa_s": 20.0,
        "aht_s": 240.0,
        "avg_wrapup_s": 30.0,
        "transfers": 0,
        "no_answers": 1,
    }
    assert got[H8, "billing"] == {
        "interval_start": H8,
        "key": "billing",
        "offered": 3,
        "answered": 2,
        "abandoned": 1,
        "abandon_wait_s": 45.0,
        "max_abandon_wait_s": 45.0,
        "overflowed": 0,
        "answered_in_sl": 2,
        "service_level": 0.6667,
        "asa_s": 10.0,
        "aht_s": 450.0,
        "avg_wrapup_s": 0.0,
        "transfers": 1,
        "no_answers": 0,
    }
    h9 = got[H9, "booking"]
    assert (h9["offered"], h9["answered"], h9["abandoned"], h9["overflowed"]) == (2, 0, 1, 1)
    assert (h9["abandon_wait_s"], h9["service_level"], h9["asa_s"], h9["aht_s"]) == (
        5.0,
        0.0,
        None,
        None,
    )


def test_targets_are_those_of_the_strategy_in_force_when_answered(engine: Engine) -> None:
    entries = known_sequence().entries
    answered = next(
        i
        for i, (_, f) in enumerate(entries)
        if f["type"] == "offer.accepted" and f["request"] == "c4"
    )
    at = entries[answered][1]["at"]
    cut = next(i for i in range(answered, len(entries)) if entries[i][1]["at"] != at)
    versions = {1: {"billing": 15_000}, 2: {"billing": 5_000}}
    store = Store(engine, b"k", lookup=versions.get, version=1)  # booking: the default 20 s
    store.ingest(entries[:cut])  # c4 answered after 12 s: within 15 s
    loaded_at = int(entries[cut - 1][0].split("-")[0])
    assert store.ingest([(f"{loaded_at}-999", {"type": "strategy.loaded", "version": "2"})])
    assert store.ingest(entries[cut:]) == len(entries) - cut  # c5 after 8 s: not within 5 s
    p = parse_period("2026-11-30T08:00", "2026-11-30T10:00", "total")
    with engine.connect() as conn:
        got = {r["key"]: r for r in report(conn, "queue", p, NOW)}
    assert got["booking"]["answered_in_sl"] == 1  # c1 10 s within 20 s, c2 30 s not
    assert got["billing"]["answered_in_sl"] == 1  # c4 only


def test_agent_report_per_hour(loaded: Engine) -> None:
    got = by_key(rows(loaded, "agent"))
    assert got[H8, "alice"] == {
        "interval_start": H8,
        "key": "alice",
        "offers": 3,
        "answered": 3,
        "rejected": 0,
        "no_answers": 0,
        "aht_s": 260.0,
        "avg_wrapup_s": 20.0,
        "transfers": 1,
        "available_s": 3600.0,
        "away_s": 0.0,
        "offline_s": 0.0,
        "occupancy": round(840 / 3600, 4),
    }
    bob = got[H8, "bob"]
    assert (bob["offers"], bob["answered"], bob["rejected"], bob["no_answers"]) == (3, 1, 1, 1)
    assert (bob["aht_s"], bob["avg_wrapup_s"], bob["occupancy"]) == (600.0, 0.0, 0.1667)
    assert (got[H9, "alice"]["available_s"], got[H9, "alice"]["offers"]) == (3600.0, 0)
    assert (got[H9, "bob"]["available_s"], got[H9, "bob"]["away_s"]) == (1800.0, 1800.0)
    assert got[H9, "bob"]["occupancy"] == 0.0


def test_channel_and_service_reports(loaded: Engine) -> None:
    channels = by_key(rows(loaded, "channel", "total"))
    start = "2026-11-30T08:00:00+00:00"
    assert channels[start, "voice"]["offered"] == 4  # c1 c2 c6 c7
    assert channels[start, "voice"]["answered"] == 2
    assert channels[start, "chat"]["offered"] == 3
    assert channels[start, "chat"]["transfers"] == 1
    services = by_key(rows(loaded, "service", "total"))
    assert services[start, "booking"]["abandoned"] == 1
    assert services[start, "billing"]["service_level"] == 0.6667


def test_quarter_hours_and_local_days(loaded: Engine) -> None:
    quarters = by_key(rows(loaded, "queue", "15m"))
    assert quarters["2026-11-30T08:00:00+00:00", "booking"]["offered"] == 2  # 08:00, 08:05
    assert quarters["2026-11-30T08:15:00+00:00", "billing"]["abandoned"] == 1  # 08:20
    assert quarters["2026-11-30T08:45:00+00:00", "billing"]["offered"] == 2  # 08:50, 08:55
    assert quarters["2026-11-30T09:00:00+00:00", "booking"]["abandoned"] == 1  # 09:10
    assert quarters["2026-11-30T09:15:00+00:00", "booking"]["overflowed"] == 1  # 09:20
    assert len(quarters) == 5
    days = rows(loaded, "queue", "day", "Europe/Paris", start="2026-11-30", end="2026-12-01")
    assert {(r["interval_start"], r["key"], r["offered"]) for r in days} == {
        ("2026-11-30T00:00:00+01:00", "booking", 4),
        ("2026-11-30T00:00:00+01:00", "billing", 3),
    }


def test_range_bounds_are_start_inclusive_end_exclusive(loaded: Engine) -> None:
    assert not rows(loaded, "queue", start="2026-11-30T07:00", end="2026-11-30T08:00")
    only_c1 = rows(loaded, "queue", "total", start="2026-11-30T08:00", end="2026-11-30T08:15")
    assert [(r["key"], r["offered"]) for r in only_c1] == [("booking", 2)]


def test_session_figures_limit_the_report_to_those_sessions(loaded: Engine) -> None:
    figures = session_figures(loaded, ["s4"])
    assert list(figures) == ["billing"]
    assert (figures["billing"]["offered"], figures["billing"]["transfers"]) == (2, 1)
    agents = session_figures(loaded, ["s4"], by="agent")
    assert (agents["alice"]["offers"], agents["bob"]["offers"]) == (1, 2)
    assert session_figures(loaded, ["no-such-session"]) == {}


def test_csv_has_a_header_and_one_line_per_row(loaded: Engine) -> None:
    text = to_csv(rows(loaded, "queue"), CONTACT_COLUMNS)
    lines = text.splitlines()
    assert lines[0].split(",") == list(CONTACT_COLUMNS)
    assert len(lines) == 4
    assert lines[1].startswith(f"{H8},billing,3,2,1,45.0,45.0,0,2,0.6667,10.0,450.0,0.0,1,0")
