"""Running sums per 15-minute slot, kept by the sink so reports never scan raw rows. Pure.

A contact adds to the slot of its creation in ``contact_slots`` (once per dimension:
its queue, channel and service) and, once answered, to its agent's slot of the answer
in ``agent_slots``; an offer adds to its agent's slot of its creation. When a batch of
events changes a contact or an offer, the sink subtracts what the row added before and
adds what it adds now (:func:`changes`), so a contact that queued, was answered and ended
counts once, in its final state.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from reports.periods import slot_of

Row = Mapping[str, Any]
Key = tuple[str, tuple[Any, ...]]
"""(table, primary key values)."""

DIMENSIONS = ("queue", "channel", "service")
MAXIMA = ("max_abandon_ms",)
"""Columns kept as the largest value seen (an abandon's wait never changes once made)."""


def contact_sums(c: Row) -> dict[str, int]:
    """What one contact row adds to its slot of each dimension."""
    answered = c["accepted_at"] is not None
    abandoned = c["outcome"] == "abandoned"
    wait = c["wait_ms"] or 0
    return {
        "offered": 1,
        "answered": int(answered),
        "abandoned": int(abandoned),
        "overflowed": int(c["outcome"] == "overflowed"),
        "answered_in_sl": int(answered and bool(c["in_sl"])),
        "transfers": int(c["transferred_out"] or 0),
        "no_answers": int(c["no_answers"] or 0),
        "answer_wait_ms": wait if answered else 0,
        "abandon_wait_ms": wait if abandoned else 0,
        "max_abandon_ms": wait if abandoned else 0,
        "handled": int(c["handle_ms"] is not None),
        "handle_ms": c["handle_ms"] or 0,
        "wrapped": int(c["wrapup_ms"] is not None),
        "wrapup_ms": c["wrapup_ms"] or 0,
    }


def contact_parts(c: Row) -> list[tuple[Key, dict[str, int]]]:
    slot = slot_of(c["created_at"])
    sums = contact_sums(c)
    parts: list[tuple[Key, dict[str, int]]] = [
        (("contact_slots", (slot, dim, c[dim] or "")), sums) for dim in DIMENSIONS
    ]
    if c["accepted_at"] is not None and c["agent"]:
        parts.append(
            (
                ("agent_slots", (slot_of(c["accepted_at"]), c["agent"])),
                {
                    "handled": sums["handled"],
                    "handle_ms": sums["handle_ms"],
                    "wrapped": sums["wrapped"],
                    "wrapup_ms": sums["wrapup_ms"],
                    "transfers": sums["transfers"],
                },
            )
        )
    return parts


def offer_parts(o: Row) -> list[tuple[Key, dict[str, int]]]:
    outcome = o["outcome"]
    no_answer = outcome == "timeout" or (outcome == "failed" and o["reason"] == "no_answer")
    return [
        (
            ("agent_slots", (slot_of(o["created_at"]), o["agent"])),
            {
                "offers": 1,
                "answered": int(outcome == "accepted"),
                "rejected": int(outcome == "rejected"),
                "no_answers": int(no_answer),
            },
        )
    ]


def parts(contacts: Iterable[Row], offers: Iterable[Row]) -> list[tuple[Key, dict[str, int]]]:
    out = [p for c in contacts for p in contact_parts(c)]
    out += [p for o in offers for p in offer_parts(o)]
    return out


def changes(
    before: Iterable[tuple[Key, dict[str, int]]], after: Iterable[tuple[Key, dict[str, int]]]
) -> dict[Key, dict[str, int]]:
    """Per slot row: what to add (``after`` minus ``before``); maxima are the new ones.
    Rows whose change is nothing are left out."""
    out: dict[Key, dict[str, int]] = {}
    for sign, items in ((-1, before), (1, after)):
        for key, sums in items:
            acc = out.setdefault(key, {})
            for name, value in sums.items():
                if name in MAXIMA:
                    if sign > 0:
                        acc[name] = max(acc.get(name, 0), value)
                else:
                    acc[name] = acc.get(name, 0) + sign * value
    return {k: v for k, v in out.items() if any(v.values())}
