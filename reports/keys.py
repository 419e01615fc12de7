"""The Redis names the reports sink uses (the events stream itself is router.keys')."""

from __future__ import annotations

from router.keys import Keys

SINK_GROUP = "reports"
"""Consumer group of the reports sink on the ``events`` stream."""


def sink_lock(keys: Keys) -> str:
    """String key held (with an expiry, renewed) by the one sink writing a domain's events:
    a second sink waits as a standby, so two never fold the same contact at once."""
    return keys.prefix + "reports:sink"
