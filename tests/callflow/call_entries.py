"""Reading a scenario's call entries (test_scenarios.py): the transcript's shape, the
hang-ups after the bridge as a set (which leg's end a PBX reports first is its own), and
the causes a customer's BYE may carry on either PBX."""

from __future__ import annotations

from typing import Any

CUSTOMER_BYE_CAUSES = {"NORMAL_CLEARING", "UNKNOWN"}
"""A customer's BYE outside a bridge: Asterisk reports cause 0 (no Reason header), which
the AMI bridge names UNKNOWN; FreeSWITCH says NORMAL_CLEARING."""


def shape(entries: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(type, party, agent) of each call entry: the transcript's shape."""
    return [(e["type"], e.get("party", ""), e.get("agent", "")) for e in entries]


def split_at_bridge(entries: list[dict[str, Any]]) -> tuple[list[Any], set[Any]]:
    """The shape up to the bridge, in order, and the hang-ups after it as a set: which leg's
    end a PBX reports first is its own (FreeSWITCH completes the agent's leg first; on
    Asterisk the two Hangup events come in either order)."""
    at = [e["type"] for e in entries].index("call.bridged") + 1
    tail = entries[at:]
    assert all(e["type"] == "call.hangup" for e in tail), shape(entries)
    return shape(entries[:at]), {(e["party"], e.get("agent", ""), e["ended_by"]) for e in tail}


def hangups_of(entries: list[dict[str, Any]], party: str) -> list[dict[str, Any]]:
    """The hang-up entries of one party (`customer` | `agent`)."""
    return [e for e in entries if e["type"] == "call.hangup" and e["party"] == party]


def call_over(entries: list[dict[str, Any]]) -> bool:
    """Both hang-ups of a connected inbound call are written."""
    return len(hangups_of(entries, "customer")) == 1 and any(
        h.get("answered") is not False for h in hangups_of(entries, "agent")
    )
