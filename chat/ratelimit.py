"""A token bucket per connection: a steady rate with some burst allowance.

In process memory, for one websocket's frames. Login attempts are throttled by budgets
shared by every worker and instance, in Redis: see :mod:`chat.login_guard`."""

from __future__ import annotations

import time
from collections.abc import Callable

from chat.errors import RateLimited


class TokenBucket:
    """Allows ``burst`` frames at once and ``rate`` frames per second after that."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._tokens = float(burst)
        self._clock = clock
        self._last = clock()

    def take(self) -> None:
        """Spend one token, or raise RateLimited saying how long to wait."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens < 1.0:
            wait = (1.0 - self._tokens) / self.rate
            raise RateLimited(f"too many frames: slow down and retry in {wait:.1f} s")
        self._tokens -= 1.0
