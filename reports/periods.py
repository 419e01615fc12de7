"""Report periods: a date range in a time zone, cut into intervals. Pure.

The database groups by 15-minute slots counted from the start of the range (every time
zone in use is a whole number of quarter hours from UTC, so these slots never straddle
a local quarter hour); the slots are then gathered into local intervals here, which keeps
days and hours right across daylight-saving changes (a local day may last 23 or 25 h).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from reports.errors import BadPeriod

SLOT_MS = 15 * 60 * 1000
INTERVALS = ("15m", "hour", "day", "total")
MAX_DAYS = {"15m": 31, "hour": 186, "day": 800, "total": 800}
"""Longest range per interval (bounds the rows of one report)."""


@dataclass(frozen=True)
class Period:
    """[start, end) in the time zone ``tz``, reported per ``interval``."""

    start: datetime
    end: datetime
    interval: str
    tz: ZoneInfo

    @property
    def start_ms(self) -> int:
        return int(self.start.timestamp() * 1000)

    @property
    def end_ms(self) -> int:
        return int(self.end.timestamp() * 1000)

    def bucket(self, at_ms: int) -> int:
        """Start (ms) of the local interval holding the instant ``at_ms``."""
        if self.interval == "total":
            return self.start_ms
        local = datetime.fromtimestamp(at_ms / 1000, self.tz)
        if self.interval == "15m":
            local = local.replace(minute=local.minute - local.minute % 15, second=0, microsecond=0)
        elif self.interval == "hour":
            local = local.replace(minute=0, second=0, microsecond=0)
        else:
            local = local.replace(hour=0, minute=0, second=0, microsecond=0)
        return max(int(local.timestamp() * 1000), self.start_ms)

    def label(self, bucket_ms: int) -> str:
        """The local start of an interval, ISO 8601 with its UTC offset."""
        return datetime.fromtimestamp(bucket_ms / 1000, self.tz).isoformat()

    def slot_bucket(self, slot: int) -> int:
        """The interval of the database's 15-minute slot number ``slot``."""
        return self.bucket(self.start_ms + slot * SLOT_MS)

    def split(self, start_ms: int, end_ms: int) -> Iterator[tuple[int, int]]:
        """The part of [start_ms, end_ms) inside the period, as (interval, ms) pieces."""
        at = max(start_ms, self.start_ms)
        stop = min(end_ms, self.end_ms)
        while at < stop:
            bucket = self.bucket(at)
            nxt = min(stop, self._next(bucket))
            yield bucket, nxt - at
            at = nxt

    def _next(self, bucket_ms: int) -> int:
        if self.interval == "total":
            return self.end_ms
        local = datetime.fromtimestamp(bucket_ms / 1000, self.tz)
        if self.interval == "15m":
            return bucket_ms + SLOT_MS
        if self.interval == "hour":
            return bucket_ms + 3600 * 1000
        nxt = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), self.tz)
        return int(nxt.timestamp() * 1000)


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
    return Period(begin, finish, interval, zi)
