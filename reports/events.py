"""Router events as the sink reads them, and the ``events`` table row each one becomes.

Personal data never reaches the database: a field is kept only if it is on the lists
below (ids of requests, offers, sessions and agents; channels, reasons, durations...).
User ids, numbers, customer attributes, names and message text are left out; the user id
of a session becomes a keyed hash in the ``sessions`` table (reports.fold).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

COLUMNS = ("request", "offer", "session", "agent", "channel")
"""Event fields that have a column of their own in the ``events`` table."""

KEPT_FIELDS = frozenset(
    {
        "queues",
        "rule",
        "step",
        "pinned",
        "deadline",
        "service",
        "pbx",
        "call_id",
        "wait_ms",
        "waited_ms",
        "handle_ms",
        "wrapup_ms",
        "reason",
        "previous",
        "destination",
        "to_request",
        "queue",
        "by",
        "status",
        "source",
        "state",
        "version",
        "disposition",
        "entry",
        "etype",
    }
)
"""Other router event fields kept in ``events.detail`` (``user``, ``callback`` are not)."""

KEPT_ENTRY_FIELDS = frozenset(
    {
        "from",
        "party",
        "direction",
        "agent",
        "request",
        "to_request",
        "channel",
        "call_id",
        "call",
        "pbx",
        "leg",
        "offer",
        "cause",
        "duration_s",
        "talk_s",
        "ended_by",
        "answered",
        "wait_s",
        "wait_ms",
        "waited_ms",
        "entry",
        "to",
        "destination",
        "queue",
        "by",
        "disposition",
    }
)
"""Fields of a transcript entry (``session.event`` data) kept: who, which call leg, causes
and durations; never ``text``, ``number``, ``name``, file names or customer data."""


@dataclass(frozen=True)
class SinkEvent:
    """One entry of the router's events stream: its id, time (ms), type and fields."""

    id: str
    at: int
    type: str
    fields: Mapping[str, str]

    def get(self, key: str, default: str = "") -> str:
        return self.fields.get(key, default)

    def number(self, key: str) -> int | None:
        """An integer field, None when absent or not a number."""
        try:
            return int(float(self.fields[key]))
        except (KeyError, ValueError):
            return None

    def data(self) -> dict[str, Any]:
        """The transcript entry of a ``session.event`` (empty if it is not JSON)."""
        try:
            value = json.loads(self.fields.get("data") or "{}")
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}


_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"))
"""One encoder for every row (``json.dumps`` with options makes one per call)."""


def stream_ms(entry_id: str) -> int:
    """The milliseconds part of a stream entry id."""
    return int(entry_id.split("-", 1)[0])


def id_key(entry_id: str) -> tuple[int, int]:
    """A stream entry id as a sortable pair (ids do not sort as strings)."""
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def from_stream(entry_id: str, fields: Mapping[str, str]) -> SinkEvent:
    """The event of a stream entry. Its time is the router's ``at``; entries written before
    events carried it fall back to the stream id's time."""
    try:
        at = int(fields["at"])
    except (KeyError, ValueError):
        at = stream_ms(entry_id)
    return SinkEvent(entry_id, at, fields.get("type", ""), dict(fields))


def event_row(e: SinkEvent) -> dict[str, Any]:
    """The ``events`` table row of ``e``, with the personal fields left out."""
    detail: dict[str, Any] = {k: v for k, v in e.fields.items() if k in KEPT_FIELDS}
    if e.type == "session.event":
        detail["data"] = {k: v for k, v in e.data().items() if k in KEPT_ENTRY_FIELDS}
    row: dict[str, Any] = {
        "id": e.id,
        "at": e.at,
        "type": e.type[:40],
        "detail": _JSON.encode(detail),
    }
    for column in COLUMNS:
        value = e.fields.get(column)
        row[column] = value[:128] if value else None
    if row["channel"]:
        row["channel"] = row["channel"][:16]
    return row
