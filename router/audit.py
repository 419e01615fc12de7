"""Check routing invariants from the recorded event log alone. Pure.

Used by the concurrency test, the throughput benchmark and ``implus router audit``: it
replays ``events`` in stream order and does not trust any counter the router keeps.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from router.model import Channel, Event

OFFER_ENDS = ("offer.rejected", "offer.timeout", "offer.failed", "offer.rescinded")
REQUEST_ENDS = ("contact.ended", "request.cancelled", "request.overflowed")


@dataclass
class AuditReport:
    requests: int = 0
    offers: int = 0
    accepted: int = 0
    ended: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    open_requests: list[str] = field(default_factory=list)
    """Requests with no final event (still waiting, offered or in a contact)."""
    peak_load: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def problem(self, text: str) -> None:
        if len(self.problems) < 100:
            self.problems.append(text)


def audit(events: Iterable[Event], capacity: Mapping[str, Mapping[str, int]]) -> AuditReport:
    """Replay the event log; ``capacity`` is agent id -> {slot: capacity}.

    Problems found: an offer ending twice or never created, a request accepted twice
    (double assignment), an agent holding more offers+contacts than a slot's capacity or
    fewer than zero, a request ending twice, an event for a request never created.
    """
    r = AuditReport()
    offers: dict[str, tuple[str, str, str]] = {}
    offer_state: dict[str, str] = {}
    load: dict[tuple[str, str], int] = defaultdict(int)
    accepted_by: dict[str, str] = {}
    contact_slot: dict[str, tuple[str, str]] = {}
    created: set[str] = set()
    ended: dict[str, str] = {}
    for e in events:
        t = e.type
        rid = e.get("request")
        if t == "request.created":
            created.add(rid)
            r.requests += 1
        elif t == "request.transferred":
            created.add(e.get("to_request"))
            r.requests += 1
        elif t == "offer.created":
            r.offers += 1
            oid, agent = e.get("offer"), e.get("agent")
            slot = Channel(e.get("channel")).capacity_channel.value
            if rid not in created:
                r.problem(f"offer {oid} for request {rid} that was never created")
            if rid in ended:
                r.problem(f"offer {oid} for request {rid} that had already ended ({ended[rid]})")
            offers[oid] = (rid, agent, slot)
            offer_state[oid] = "pending"
            load[(agent, slot)] += 1
            cap = capacity.get(agent, {}).get(slot, 0)
            if load[(agent, slot)] > cap:
                r.problem(
                    f"agent {agent} holds {load[(agent, slot)]} {slot} offers/contacts, "
                    f"capacity {cap}"
                )
            key = f"{agent}:{slot}"
            r.peak_load[key] = max(r.peak_load.get(key, 0), load[(agent, slot)])
        elif t == "offer.accepted" or t in OFFER_ENDS:
            oid = e.get("offer")
            if oid not in offers:
                r.problem(f"{t} for unknown offer {oid}")
                continue
            if offer_state[oid] != "pending":
                r.problem(f"offer {oid} ended twice ({offer_state[oid]} then {t})")
                continue
            offer_state[oid] = t
            orid, agent, slot = offers[oid]
            if t == "offer.accepted":
                r.accepted += 1
                if orid in accepted_by:
                    r.problem(f"request {orid} accepted twice: {accepted_by[orid]} and {agent}")
                accepted_by[orid] = agent
                contact_slot[orid] = (agent, slot)
            else:
                load[(agent, slot)] -= 1
                if load[(agent, slot)] < 0:
                    r.problem(f"agent {agent} {slot} load below zero")
        if t in REQUEST_ENDS:
            if rid in ended:
                r.problem(f"request {rid} ended twice ({ended[rid]} then {t})")
                continue
            ended[rid] = t
            r.ended[t] += 1
            if t == "contact.ended":
                if rid not in contact_slot:
                    r.problem(f"contact.ended for {rid} that was never accepted")
                    continue
                agent, slot = contact_slot.pop(rid)
                load[(agent, slot)] -= 1
                if load[(agent, slot)] < 0:
                    r.problem(f"agent {agent} {slot} load below zero")
    r.open_requests = sorted(created - set(ended))
    for oid, state in offer_state.items():
        if state == "pending" and offers[oid][0] in ended:
            r.problem(f"offer {oid} still pending although its request ended")
    return r
