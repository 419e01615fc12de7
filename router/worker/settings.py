"""How an allocation worker is tuned, and what it counts."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WorkerSettings:
    batch: int = 256
    """Work items read per round."""
    block_ms: int = 20
    """How long a round waits for work; bounds how stale the agent view can get when idle."""
    timer_interval_ms: int = 50
    reaper_interval_ms: int = 1000
    claim_idle_ms: int = 30_000
    """Items pending this long with a silent worker are taken over."""
    session_idle_s: float = 3600.0
    """Open sessions with no activity and nothing in progress close after this long."""
    housekeeping_interval_s: float = 10.0
    cycle_collect_interval_s: float = 600.0
    """How often `Worker.run` has the garbage collector look at everything it froze after
    each round, for garbage in reference cycles (a pause of ~50 ms with 10,000 agents): at
    the first round without work once it is due, at the latest one interval later."""
    sweep_interval_s: float = 1.0
    """How often free agents and waiting requests that never met are matched (the safety
    net behind the event-driven matching; 0 turns it off)."""
    pipeline_min: int = 32
    """Offers in a batch from which its reservations are sent without waiting for them:
    Redis runs them while the worker decides the next batch. A smaller batch (low load)
    waits for its replies: there is little to overlap, and its offers go out sooner."""
    share: tuple[int, int] | None = None
    """(k, n): this worker is the k-th of n started together (`implus router --workers n`)
    and prefers its share of the agents when it decides (:func:`router.allocation.decide`),
    so the n workers do not race for the same best agent. None: every agent alike."""


@dataclass
class WorkerStats:
    items: int = 0
    offers: int = 0
    lost_races: int = 0
    waits: int = 0
    overflows: int = 0
    timeouts: int = 0
    sweeps: int = 0
    """Sweep rounds that found requests waiting beside free agents."""
    echoes_skipped: int = 0
    """Agent feed entries of the worker's own reservations not applied (its view counted
    them already: ``WorkerView.expect_echo``)."""
