"""What a customer may see of a session's transcript.

The transcript is the staff's whole timeline: messages, internal notes, routing steps
(which request, which agent, how long it waited) and call legs. Customers get an
allow-list projection of it: only entry types meant for them, and only the fields those
need. The rule lives here, in one function, and both the live fan-out (``Hub``) and the
replay on reconnect use it, so no path can forget it.
"""

from __future__ import annotations

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
        "call.hangup",
    }
)
"""Entry types a customer may see; everything else (notes first of all) is staff only."""

CUSTOMER_FIELDS = (
    "id",
    "type",
    "at",
    "from",
    "text",
    "file",
    "cid",
    "number",
    "disposition",
    "duration_s",
    "channel",
)
"""Fields a customer-visible entry keeps (agent ids, request ids, causes are dropped)."""


def for_customer(entry: dict[str, Any]) -> dict[str, Any] | None:
    """The customer's view of a transcript entry, or None when it is staff only."""
    if entry.get("type") not in CUSTOMER_TYPES or entry.get("internal") in (True, "1", "true"):
        return None
    return {k: entry[k] for k in CUSTOMER_FIELDS if k in entry}
