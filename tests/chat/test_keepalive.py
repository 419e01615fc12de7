"""KeepAlive spreads its pings over the interval (a burst of 5,000 pongs stalled every
message once per interval) while still pinging each connection once per interval."""

from __future__ import annotations

from collections import Counter

from chat.connection import KeepAlive


class FakeConn:
    """Only what KeepAlive touches: an id and ping()."""

    def __init__(self, cid: int, answers: bool = True) -> None:
        self.id = cid
        self.answers = answers
        self.pings = 0

    def ping(self) -> bool:
        self.pings += 1
        return self.answers


def test_each_connection_is_pinged_once_per_interval_in_slices() -> None:
    conns = [FakeConn(i) for i in range(1, 5001)]
    keep = KeepAlive(lambda: conns, 25)
    assert (keep.tick, keep.slices) == (1.0, 25)
    per_tick = []
    for part in range(keep.slices):
        before = sum(c.pings for c in conns)
        keep.round(part)
        per_tick.append(sum(c.pings for c in conns) - before)
    assert Counter(c.pings for c in conns) == {1: 5000}
    assert max(per_tick) <= 5000 // 25 + 1  # no tick pings more than its share


def test_short_interval_pings_everyone_every_tick() -> None:
    conns = [FakeConn(i) for i in range(1, 11)]
    keep = KeepAlive(lambda: conns, 0.5)
    assert (keep.tick, keep.slices) == (0.5, 1)
    keep.round(0)
    assert all(c.pings == 1 for c in conns)


def test_round_counts_connections_that_missed_their_pong() -> None:
    conns = [FakeConn(1), FakeConn(2, answers=False), FakeConn(3, answers=False)]
    assert KeepAlive(lambda: conns, 1).round() == 2
