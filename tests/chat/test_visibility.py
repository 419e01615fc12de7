"""The customer's projections of transcript entries and live session frames (pure)."""

from __future__ import annotations

import pytest

from chat.visibility import for_customer, frame_for_customer


@pytest.mark.parametrize(
    ("frame", "shown"),
    [
        (
            {
                "type": "request",
                "session_id": "s",
                "request_id": "r1",
                "state": "queued",
                "channel": "chat",
            },
            {"type": "request", "session_id": "s", "state": "queued", "channel": "chat"},
        ),
        (
            {
                "type": "typing",
                "session_id": "s",
                "from": "agent",
                "on": True,
                "agent": "bob",
                "name": "Bob B.",
            },
            {"type": "typing", "session_id": "s", "from": "agent", "on": True, "name": "Bob B."},
        ),
        (
            {"type": "session_closed", "session_id": "s", "disposition": "abusive"},
            {"type": "session_closed", "session_id": "s"},
        ),
        (
            {"type": "receipt", "session_id": "s", "party": "agent", "id": "1-0", "agent": "bob"},
            {"type": "receipt", "session_id": "s", "party": "agent", "id": "1-0"},
        ),
        ({"type": "offer", "offer_id": "o1", "user_id": "u1"}, None),
        ({"type": "contact_ended", "request_id": "r1"}, None),
        ({"type": "whatever-new", "secret": 1}, None),
    ],
)
def test_live_frames_customers_get(frame: dict, shown: dict | None) -> None:
    assert frame_for_customer(frame) == shown


def test_entries_lose_agent_request_and_disposition() -> None:
    closed = {"id": "1-0", "type": "closed", "at": 1, "disposition": "spam", "by": "bob"}
    assert for_customer(closed) == {"id": "1-0", "type": "closed", "at": 1}
    assigned = {
        "id": "2-0",
        "type": "assigned",
        "at": 2,
        "agent": "bob",
        "request": "r1",
        "channel": "chat",
    }
    assert for_customer(assigned) == {"id": "2-0", "type": "assigned", "at": 2, "channel": "chat"}
    assert for_customer({"id": "3-0", "type": "note", "text": "internal"}) is None
