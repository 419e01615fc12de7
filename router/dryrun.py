"""Dry run: how would a new strategy route the requests we actually saw? Pure."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from router.allocation import plan_for
from router.model import RoutingRequest
from router.strategy import Plan, Strategy


@dataclass
class DryRunReport:
    requests: int = 0
    changed: int = 0
    moves: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(current rule -> queues, new rule -> queues) for requests sent to other queues."""
    by_rule: Counter[str] = field(default_factory=Counter)
    notes: Counter[str] = field(default_factory=Counter)


def dry_run(requests: Iterable[RoutingRequest], current: Strategy, new: Strategy) -> DryRunReport:
    """Route each request at the moment it was filed under both strategies and compare."""
    report = DryRunReport()
    for r in requests:
        report.requests += 1
        before, _ = plan_for(r, current, r.created)
        after, notes = plan_for(r, new, r.created)
        for note in notes:
            report.notes[note] += 1
        a = _describe(before)
        b = _describe(after)
        report.by_rule[b] += 1
        if _where(before) != _where(after):
            report.changed += 1
            report.moves[(a, b)] += 1
    return report


def _where(plan: Plan | None) -> tuple[str, ...] | None:
    """Where a plan sends the request: its queues (a renamed rule changes nothing)."""
    return None if plan is None else plan.queues


def _describe(plan: Plan | None) -> str:
    if plan is None:
        return "overflow (no rule)"
    return f"{plan.rule} -> {', '.join(plan.queues)}"
