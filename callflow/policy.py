"""The call-handling policies both bridges follow, decided once (pure functions of time).

- Ringing: an agent rings until the offer's deadline minus `RING_MARGIN_S`, so the PBX gives
  up before the router's offer timer and the transcript gets the PBX's cause (NO_ANSWER),
  never a race between the two. FreeSWITCH counts originate timeouts in whole seconds: the
  bridge rounds down (`whole_ring_seconds`), so the switch still gives up first.
- Staleness: a command issued within `FRESH_MS` is acted on as it is; an older one (read
  again after a restart or a lost link) is checked against the router first (is the offer
  still pending?). A command older than `MAX_COMMAND_AGE_S` is dropped: the router has long
  moved on. A click-to-call older than `STALE_CLICK_S` is not placed (the agent's phone
  ringing minutes after the click would surprise them).
- A `ring_agent` for a request that is not the call's current one (the call was filed again
  after its record was lost) cancels that request: it must not keep being offered.
- Agents managed through the admin API (not in the admin YAML) are dialled from the phone
  the router knows (`endpoint` on `agent_pbx`), on both PBXs.
- A router overflow's transcript names the strategy's destination, else the entry point's
  configured overflow.
"""

from __future__ import annotations

import math

RING_MARGIN_S = 0.5
FRESH_MS = 1000
MAX_COMMAND_AGE_S = 300.0
STALE_CLICK_S = 60.0
CLICK_RING_S = 30.0
"""How long a click-to-call rings the agent's own phone."""
CONSULT_RING_S = 30.0
"""How long a consult target rings (the customer is on hold meanwhile)."""
SPY_RING_S = 30.0
"""How long a supervisor's phone rings to listen in."""
SETTLE_MS = 1000
"""Reconciliation leaves records saved this recently alone: their events may be on the way."""


def is_fresh(at_ms: int, now_ms: int) -> bool:
    """A command issued within the last second: the router's state cannot have moved on in
    a way the bridge has not seen (no need to read it back)."""
    return bool(at_ms) and 0 <= now_ms - at_ms < FRESH_MS


def too_old(at_ms: int, now_ms: int, limit_s: float = MAX_COMMAND_AGE_S) -> bool:
    return bool(at_ms) and now_ms - at_ms > limit_s * 1000


def ring_seconds(deadline_ms: int, at_ms: int, timeout_s: float, now_ms: int) -> float:
    """How long to ring an agent for an offer: until its deadline minus the margin. Without
    the offer's deadline, the command's `at` + `timeout` (whole seconds, rounded down by the
    router) is used. <= 0: the offer is about to end, do not ring."""
    if not deadline_ms:
        deadline_ms = int((at_ms or now_ms) + timeout_s * 1000)
    return round((deadline_ms - now_ms) / 1000 - RING_MARGIN_S, 3)


def whole_ring_seconds(seconds: float) -> int:
    """Ring time for a PBX that counts whole seconds: rounded down, at least 1."""
    return max(1, math.floor(seconds))
