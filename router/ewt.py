"""Estimated wait time and service level from recent answers. Pure functions."""

from __future__ import annotations

from collections.abc import Sequence

MIN_SAMPLES = 3
"""Answers needed in the window before a rate is trusted."""


def service_rate(answered_at: Sequence[int], now_ms: int, window_ms: int) -> float | None:
    """Requests answered per second over the recent window, or None without enough data."""
    recent = [t for t in answered_at if now_ms - window_ms <= t <= now_ms]
    if len(recent) < MIN_SAMPLES:
        return None
    span_s = max((now_ms - min(recent)) / 1000, 1.0)
    return len(recent) / span_s


def estimate_wait(
    position: int,
    answered_at: Sequence[int],
    now_ms: int,
    window_ms: int,
    free_agents: int = 0,
) -> float | None:
    """Seconds until the request at 0-based ``position`` is answered.

    Zero when there are more free agents than requests ahead; otherwise requests ahead
    (plus this one) divided by the recent answer rate. None when nothing was answered
    recently enough to know (a new queue, or a stalled one).
    """
    if position < free_agents:
        return 0.0
    rate = service_rate(answered_at, now_ms, window_ms)
    if rate is None:
        return None
    return (position - free_agents + 1) / rate


def service_level(waits_ms: Sequence[int], threshold_s: float) -> float | None:
    """Share of recent answers within the target, or None with no answers."""
    if not waits_ms:
        return None
    return sum(1 for w in waits_ms if w <= threshold_s * 1000) / len(waits_ms)
