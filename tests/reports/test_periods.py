"""Report periods and intervals (pure): local days across daylight-saving changes, quarter
hours, and clear errors for bad input."""

from __future__ import annotations

from datetime import datetime

import pytest

from reports.errors import BadPeriod
from reports.periods import parse_period


def ms_of(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def test_a_bare_date_is_that_whole_local_day() -> None:
    p = parse_period("2026-12-07", interval="day", tz="Europe/Paris")
    assert p.start.isoformat() == "2026-12-07T00:00:00+01:00"
    assert p.end.isoformat() == "2026-12-08T00:00:00+01:00"


def test_days_across_the_spring_change_last_23_hours() -> None:
    p = parse_period("2027-03-27", "2027-03-30", "day", "Europe/Paris")
    pieces = list(p.split(p.start_ms, p.end_ms))
    assert [p.label(b) for b, _ in pieces] == [
        "2027-03-27T00:00:00+01:00",
        "2027-03-28T00:00:00+01:00",
        "2027-03-29T00:00:00+02:00",
    ]
    assert [ms // 3_600_000 for _, ms in pieces] == [24, 23, 24]


def test_autumn_hours_keep_both_one_oclocks_apart() -> None:
    p = parse_period("2027-10-31T00:00+02:00", "2027-10-31T04:00+01:00", "hour", "Europe/Paris")
    buckets = [b for b, _ in p.split(p.start_ms, p.end_ms)]
    assert [p.label(b) for b in buckets] == [
        "2027-10-31T00:00:00+02:00",
        "2027-10-31T01:00:00+02:00",
        "2027-10-31T02:00:00+02:00",
        "2027-10-31T02:00:00+01:00",
        "2027-10-31T03:00:00+01:00",
    ]
    assert p.bucket(ms_of("2027-10-31T02:30:00+01:00")) == buckets[3]


def test_quarter_hours_in_a_zone_three_quarters_off_the_hour() -> None:
    p = parse_period("2026-12-07T08:00", "2026-12-07T09:00", "15m", "Asia/Kathmandu")
    assert p.start.isoformat() == "2026-12-07T08:00:00+05:45"
    assert p.label(p.bucket(p.start_ms + 3 * 900_000 + 1)) == "2026-12-07T08:45:00+05:45"


def test_split_clips_to_the_period() -> None:
    p = parse_period("2026-12-07T08:00", "2026-12-07T10:00", "hour")
    assert list(p.split(ms_of("2026-12-07T07:30+00:00"), ms_of("2026-12-07T08:30+00:00"))) == [
        (p.start_ms, 1_800_000)
    ]
    assert list(p.split(ms_of("2026-12-07T11:00+00:00"), ms_of("2026-12-07T12:00+00:00"))) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("",), "give the start"),
        (("yesterday",), "is not a date"),
        (("2026-12-07T08:10", "2026-12-07T09:00"), "quarter hour"),
        (("2026-12-07T08:00",), "give the end"),
        (("2026-12-07", "2026-12-06"), "'to' must be after 'from'"),
        (("2026-01-01", "2026-03-01", "15m"), "at most 31 days"),
        (("2026-12-07", "", "week"), "interval must be one of"),
        (("2026-12-07", "", "day", "Mars/Olympus"), "unknown time zone"),
    ],
)
def test_bad_periods_say_what_to_change(args: tuple[str, ...], message: str) -> None:
    with pytest.raises(BadPeriod, match=message):
        parse_period(*args)
