"""Report periods: a date range in a time zone, cut into intervals. Pure.

Intervals are local: a day starts at local midnight and lasts 23 or 25 hours across a
daylight-saving change; the hour that repeats in autumn is two hours. The arithmetic is
done on the period's *segments* (stretches with one UTC offset), so the database can
group rows by interval itself (:meth:`Period.bucket_sql`) and Python only labels them.
Every time zone in use is a whole number of quarter hours from UTC, so the 15-minute
slots of the rollup tables never straddle an interval.
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa

from reports.errors import BadPeriod

SLOT_MS = 15 * 60 * 1000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
INTERVALS = ("15m", "hour", "day", "total")
WIDTH = {"15m": SLOT_MS, "hour": HOUR_MS, "day": DAY_MS}
MAX_DAYS = {"15m": 31, "hour": 186, "day": 800, "total": 800}
"""Longest range per interval (bounds the rows of one report)."""


def slot_of(at_ms: int) -> int:
    """The start of the UTC quarter hour holding ``at_ms`` (the rollups' slot)."""
    return at_ms - at_ms % SLOT_MS


@dataclass(frozen=True)
class Period:
    """[start, end) in the time zone ``tz``, reported per ``interval``."""

    start: datetime
    end: datetime
    interval: str
    tz: ZoneInfo
    segments: tuple[tuple[int, int], ...] = field(default=(), compare=False)
    """(from ms, UTC offset ms) of each stretch with one offset, in order (made by
    parse_period / with_segments)."""

    start_ms: int = field(default=0, compare=False)
    end_ms: int = field(default=0, compare=False)

    def with_segments(self) -> Period:
        """This period with its bounds in ms and its segments worked out (needed by every
        method below)."""
        start, end = int(self.start.timestamp() * 1000), int(self.end.timestamp() * 1000)
        bare = Period(self.start, self.end, self.interval, self.tz, (), start, end)
        return Period(self.start, self.end, self.interval, self.tz, _segments(bare), start, end)

    def _offset(self, at_ms: int) -> int:
        if len(self.segments) == 1:
            return self.segments[0][1]
        i = bisect.bisect_right(self.segments, (at_ms, 1 << 62)) - 1
        return self.segments[max(i, 0)][1]

    def bucket(self, at_ms: int) -> int:
        """Start (ms) of the local interval holding the instant ``at_ms``."""
        if self.interval == "total":
            return self.start_ms
        off = self._offset(at_ms)
        if self.interval == "day":
            return max(_midnight(((at_ms + off) // DAY_MS) * DAY_MS, self.tz), self.start_ms)
        width = WIDTH[self.interval]
        return max((at_ms + off) // width * width - off, self.start_ms)

    def canonical(self, value: int) -> int:
        """An interval start as :meth:`bucket_sql` gives it -> the instant (ms). Days come
        as local wall-clock midnights and are placed with the zone's rules."""
        if self.interval != "day":
            return value
        return max(_midnight(value, self.tz), self.start_ms)

    def bucket_sql(self, column: Any) -> Any:
        """SQL computing :meth:`bucket` of a ms column (before :meth:`canonical`)."""
        if self.interval == "total":
            return sa.literal(self.start_ms, sa.BigInteger)
        width = WIDTH[self.interval]
        shift = 0 if self.interval == "day" else 1

        def expr(off: int) -> Any:
            return (column + off) // width * width - off * shift

        if len(self.segments) == 1:
            return expr(self.segments[0][1])
        whens = [
            (column < nxt, expr(off))
            for (_, off), (nxt, _) in zip(self.segments, self.segments[1:], strict=False)
        ]
        return sa.case(*whens, else_=expr(self.segments[-1][1]))

    def label(self, bucket_ms: int) -> str:
        """The local start of an interval, ISO 8601 with its UTC offset."""
        return datetime.fromtimestamp(bucket_ms / 1000, self.tz).isoformat()

    def split(self, start_ms: int, end_ms: int) -> Iterator[tuple[int, int]]:
        """The part of [start_ms, end_ms) inside the period, as (interval, ms) pieces."""
        at = max(start_ms, self.start_ms)
        stop = min(end_ms, self.end_ms)
        while at < stop:
            bucket = self.bucket(at)
            nxt = min(stop, self._next(bucket, at))
            yield bucket, nxt - at
            at = nxt

    def _next(self, bucket_ms: int, at_ms: int) -> int:
        if self.interval == "total":
            return self.end_ms
        if self.interval == "day":
            return _midnight(((at_ms + self._offset(at_ms)) // DAY_MS + 1) * DAY_MS, self.tz)
        return bucket_ms + WIDTH[self.interval]


@functools.lru_cache(maxsize=4096)
def _midnight(wall_ms: int, tz: ZoneInfo) -> int:
    """The instant of a local midnight given as wall-clock ms (as if UTC)."""
    day = datetime.fromtimestamp(wall_ms / 1000, UTC).date()
    return int(datetime.combine(day, datetime.min.time(), tz).timestamp() * 1000)


def _segments(p: Period) -> tuple[tuple[int, int], ...]:
    """Where the UTC offset changes within the period (checked every hour, then found to
    the quarter hour: zones change offset on quarter hours of UTC)."""

    def offset(ms: int) -> int:
        delta = datetime.fromtimestamp(ms / 1000, p.tz).utcoffset() or timedelta(0)
        return int(delta.total_seconds() * 1000)

    start, end = p.start_ms, p.end_ms
    out = [(start, offset(start))]
    at = start
    while at < end:
        nxt = min(at + HOUR_MS, end)
        if offset(nxt) != out[-1][1] or (nxt == end and offset(nxt - 1) != out[-1][1]):
            q = at
            while q < nxt and offset(q) == out[-1][1]:
                q += SLOT_MS
            if q < end:
                out.append((q, offset(q)))
        at = nxt
    return tuple(out)


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise BadPeriod(
            f"unknown time zone {name!r}: use an IANA name such as Europe/Paris or UTC"
        ) from None


def parse_moment(text: str, tz: ZoneInfo, what: str) -> tuple[datetime, bool]:
    """``2026-12-01`` (midnight) or ``2026-12-01T08:15`` in ``tz`` (an explicit offset
    wins). Returns the moment and whether it was a bare date."""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime.combine(day, datetime.min.time(), tz), True
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise BadPeriod(
            f"{what} {text!r} is not a date (2026-12-01) or a time (2026-12-01T08:15)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.astimezone(tz), False


def parse_period(start: str, end: str = "", interval: str = "hour", tz: str = "UTC") -> Period:
    """A Period from text (API query parameters, command options). ``end`` defaults to
    the day after a bare ``start`` date. Raises BadPeriod saying what to change."""
    zi = zone(tz)
    if interval not in INTERVALS:
        raise BadPeriod(f"interval must be one of {', '.join(INTERVALS)}, got {interval!r}")
    if not start:
        raise BadPeriod("give the start of the range (from=2026-12-01)")
    begin, bare = parse_moment(start, zi, "from")
    if end:
        finish, _ = parse_moment(end, zi, "to")
    elif bare:
        finish = datetime.combine(begin.date() + timedelta(days=1), datetime.min.time(), zi)
    else:
        raise BadPeriod("give the end of the range (to=...) when the start has a time")
    for name, moment in (("from", begin), ("to", finish)):
        if moment.second or moment.microsecond or moment.minute % 15:
            raise BadPeriod(f"{name} must fall on a quarter hour (08:00, 08:15...)")
    if finish <= begin:
        raise BadPeriod("the range is empty: 'to' must be after 'from'")
    if finish - begin > timedelta(days=MAX_DAYS[interval]):
        raise BadPeriod(
            f"a report per {interval} covers at most {MAX_DAYS[interval]} days: "
            "shorten the range or pick a longer interval"
        )
    return Period(begin, finish, interval, zi).with_segments()
