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
from operator import add, sub
from typing import Any

from reports.periods import slot_of
from reports.schema import AGENT_SUMS, CONTACT_SUMS

Row = Mapping[str, Any]
Key = tuple[str, tuple[Any, ...]]
"""(table, primary key values)."""
Vector = tuple[int, ...]
"""A slot row's sums in the column order of ``SUMS[table]``."""

DIMENSIONS = ("queue", "channel", "service")
MAXIMA = ("max_abandon_ms",)
"""Columns kept as the largest value seen (an abandon's wait never changes once made)."""
SUMS = {"contact_slots": CONTACT_SUMS, "agent_slots": AGENT_SUMS}
_MAX = {"contact_slots": CONTACT_SUMS.index("max_abandon_ms"), "agent_slots": -1}


def contact_vector(c: Row) -> Vector:
    """What one contact row adds to its slot of each dimension (``CONTACT_SUMS`` order)."""
    answered = c["accepted_at"] is not None
    abandoned = c["outcome"] == "abandoned"
    wait = c["wait_ms"] or 0
    handle = c["handle_ms"]
    wrapup = c["wrapup_ms"]
    return (
        1,
        int(answered),
        int(abandoned),
        int(c["outcome"] == "overflowed"),
        int(answered and bool(c["in_sl"])),
        int(c["transferred_out"] or 0),
        int(c["no_answers"] or 0),
        wait if answered else 0,
        wait if abandoned else 0,
        wait if abandoned else 0,
        int(handle is not None),
        handle or 0,
        int(wrapup is not None),
        wrapup or 0,
    )


def contact_vectors(c: Row) -> list[tuple[Key, Vector]]:
    """The slot rows a contact adds to: its slot of creation per dimension, and (answered)
    its agent's slot of the answer."""
    slot = slot_of(c["created_at"])
    v = contact_vector(c)
    out: list[tuple[Key, Vector]] = [
        (("contact_slots", (slot, "queue", c["queue"] or "")), v),
        (("contact_slots", (slot, "channel", c["channel"] or "")), v),
        (("contact_slots", (slot, "service", c["service"] or "")), v),
    ]
    if c["accepted_at"] is not None and c["agent"]:
        # AGENT_SUMS: offers, answered, rejected, no_answers, then the contact's part
        agent = (0, 0, 0, 0, v[10], v[11], v[12], v[13], v[5])
        out.append((("agent_slots", (slot_of(c["accepted_at"]), c["agent"])), agent))
    return out


def offer_vectors(o: Row) -> list[tuple[Key, Vector]]:
    outcome = o["outcome"]
    no_answer = outcome == "timeout" or (outcome == "failed" and o["reason"] == "no_answer")
    v = (1, int(outcome == "accepted"), int(outcome == "rejected"), int(no_answer), 0, 0, 0, 0, 0)
    return [(("agent_slots", (slot_of(o["created_at"]), o["agent"])), v)]


def _named(parts: list[tuple[Key, Vector]]) -> list[tuple[Key, dict[str, int]]]:
    return [(key, dict(zip(SUMS[key[0]], v, strict=True))) for key, v in parts]


def contact_sums(c: Row) -> dict[str, int]:
    """What one contact row adds to its slot of each dimension."""
    return dict(zip(CONTACT_SUMS, contact_vector(c), strict=True))


def contact_parts(c: Row) -> list[tuple[Key, dict[str, int]]]:
    return _named(contact_vectors(c))


def offer_parts(o: Row) -> list[tuple[Key, dict[str, int]]]:
    return _named(offer_vectors(o))


def parts(contacts: Iterable[Row], offers: Iterable[Row]) -> list[tuple[Key, dict[str, int]]]:
    out = [p for c in contacts for p in contact_parts(c)]
    out += [p for o in offers for p in offer_parts(o)]
    return out


def changes(
    before: Iterable[tuple[Key, Vector]], after: Iterable[tuple[Key, Vector]]
) -> dict[Key, dict[str, int]]:
    """Per slot row: what to add (``after`` minus ``before``, from the vectors of
    :func:`contact_vectors` and :func:`offer_vectors`); maxima are the largest of
    ``after``. Rows whose change is nothing are left out."""
    out: dict[Key, list[int]] = {}
    for key, v in before:
        acc = out.get(key)
        out[key] = list(map(sub, acc, v)) if acc else [-x for x in v]
    maxima: dict[Key, int] = {}
    for key, v in after:
        acc = out.get(key)
        out[key] = list(map(add, acc, v)) if acc else list(v)
        i = _MAX[key[0]]
        if i >= 0 and v[i] > maxima.get(key, 0):
            maxima[key] = v[i]
    named: dict[Key, dict[str, int]] = {}
    for key, acc in out.items():
        i = _MAX[key[0]]
        if i >= 0:  # the largest wait of an abandon made now, not a difference
            acc[i] = maxima.get(key, 0)
        if any(acc):
            named[key] = dict(zip(SUMS[key[0]], acc, strict=True))
    return named
