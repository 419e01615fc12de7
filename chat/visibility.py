"""What a customer may see of a session: its transcript entries and the live frames.

The transcript is the staff's whole timeline: messages, internal notes, routing steps
(which request, which agent, how long it waited) and call legs. Customers get an
allow-list projection of it: only entry types meant for them, and only the fields those
need. The same goes for the live frames fanned out to a session (request updates,
typing, receipts, the close): agent logins, routing request ids and wrap-up codes
(dispositions) never reach a customer. The rules live here, and both the live fan-out
(``Hub``) and the replay on reconnect use them, so no path can forget them.
"""

from __future__ import annotations

import hashlib
from typing import Any

CUSTOMER_TYPES = frozenset(
    {
        "message",  # what the customer and the agents wrote to each other
        "callback",  # the customer asked to be called back ("call me")
        "assigned",  # an agent joined
        "transferred",  # the conversation moves to someone else
        "closed",  # the session was closed
        "call.requested",  # the agent is calling the customer (click-to-call)
        "call.ringing",
        "call.answered",
        "call.bridged",  # connected with an agent
        "call.transferred",  # the caller was moved (back on hold, to the overflow)
        "call.hangup",
        "voip.ring",  # the agent rings the customer's widget (VoIP callback), its outcome
    }
)
"""Entry types a customer may see; everything else (notes first of all) is staff only.
Call entries about an agent's own phone leg (``party: agent``: ringing an agent, an agent
who did not answer) are staff only too: the customer's call card needs its own leg and
the moment both sides were connected."""

CUSTOMER_FIELDS = (
    "id",
    "type",
    "at",
    "from",
    "text",
    "file",
    "cid",
    "number",
    "duration_s",
    "talk_s",
    "channel",
    "party",
    "direction",
    "to",
    "agent_name",  # the agent's display name, added when delivered (never the login)
)
"""Fields a customer-visible entry keeps (agent ids, request ids, causes and the
disposition - an internal wrap-up code - are dropped)."""

CUSTOMER_FRAME_FIELDS: dict[str, tuple[str, ...]] = {
    "entry": ("type", "session_id", "id", "entry"),  # the entry is projected already
    "request": ("type", "session_id", "state", "channel"),
    "agent_joined": ("type", "session_id", "channel"),
    "session_closed": ("type", "session_id"),
    "typing": ("type", "session_id", "from", "on", "name"),  # name: the agent's display name
    "receipt": ("type", "session_id", "party", "id"),
    "voip_ring": ("type", "session_id", "ring", "state", "name"),  # a VoIP callback rings
}
"""Live session frames a customer may get, with the fields each keeps; others are not sent."""


def for_customer(entry: dict[str, Any]) -> dict[str, Any] | None:
    """The customer's view of a transcript entry, or None when it is staff only."""
    etype = entry.get("type")
    if etype not in CUSTOMER_TYPES or entry.get("internal") in (True, "1", "true"):
        return None
    if str(etype).startswith("call.") and entry.get("party") == "agent":
        return None
    shown = {k: entry[k] for k in CUSTOMER_FIELDS if k in entry}
    key = call_key(entry)
    if key:
        shown["call_ref"] = call_ref(key)
    return shown


def call_key(entry: dict[str, Any]) -> str:
    """The call a ``call.*`` entry belongs to: the router's call id for calls it asked
    for (click-to-call: ``call``), else the PBX's ``call_id``. Empty for other entries."""
    if not str(entry.get("type", "")).startswith("call."):
        return ""
    return str(entry.get("call") or entry.get("call_id") or "")


def call_ref(key: str) -> str:
    """An opaque name of a call for customers: entries of one call share it, and it does
    not show the PBX's channel ids."""
    return hashlib.sha256(f"implus-call:{key}".encode()).hexdigest()[:16]


def frame_for_customer(frame: dict[str, Any]) -> dict[str, Any] | None:
    """The customer's view of a live session frame, or None when it is staff only."""
    fields = CUSTOMER_FRAME_FIELDS.get(frame.get("type", ""))
    if fields is None:
        return None
    return {k: frame[k] for k in fields if k in frame}
