"""The figures of pbx_route.py: one measured step (a system at a call rate), percentiles,
and the summary of all steps with the goals (implus routes at least app_queue's rate and
adds under 50 ms at p99).
"""

from __future__ import annotations

import argparse
import os
from dataclasses import asdict, dataclass, field
from typing import Any


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


@dataclass
class Step:
    system: str
    rate: float
    calls: int
    failed: int
    not_routed: int
    sipp_failed: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    seconds: float
    cpu_s: dict[str, float] = field(default_factory=dict)
    segments_ms: dict[str, dict[str, float]] = field(default_factory=dict)
    """implus only: where the time goes, per segment of the path (p50/p99)."""


def summarize(steps: list[Step], args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"benchmark": "pbx_route", "steps": [asdict(s) for s in steps]}
    best: dict[str, Step | None] = {}
    for system in ("implus", "app_queue"):
        clean = [s for s in steps if s.system == system and s.failed == 0]
        best[system] = max(clean, key=lambda s: s.rate, default=None)
        b = best[system]
        out[system] = {
            "max_rate_cps": b.rate if b else 0.0,
            "p50_ms_at_max": b.p50_ms if b else None,
            "p99_ms_at_max": b.p99_ms if b else None,
        }
    common = [
        (a, q)
        for a in steps
        for q in steps
        if a.system == "implus"
        and q.system == "app_queue"
        and a.rate == q.rate
        and a.failed == 0
        and q.failed == 0
    ]
    if common:
        a, q = max(common, key=lambda pair: pair[0].rate)
        out["added_p99_ms"] = round(a.p99_ms - q.p99_ms, 1)
        out["added_p50_ms"] = round(a.p50_ms - q.p50_ms, 1)
        out["compared_at_cps"] = a.rate
        out["added_p99_ms_by_rate"] = {
            str(a.rate): round(a.p99_ms - q.p99_ms, 1)
            for a, q in sorted(common, key=lambda p: p[0].rate)
        }
    else:
        out["added_p99_ms"] = None
    implus_rate = out["implus"]["max_rate_cps"]
    queue_rate = out["app_queue"]["max_rate_cps"]
    out["goal_rate_met"] = implus_rate >= queue_rate
    out["goal_p99_met"] = out["added_p99_ms"] is not None and out["added_p99_ms"] < 50
    out["config"] = {
        "agents": args.agents,
        "ring_s": args.ring,
        "talk_s": args.talk,
        "step_seconds": args.step_seconds,
        "rates": args.rates,
        "cpus": os.cpu_count(),
    }
    return out
