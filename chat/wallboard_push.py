"""Pushes the wall board to the supervisor pages this process holds.

The live board goes out soon after the router says something changed (the event fan-out
sets :attr:`chat.wallboard.Wallboard.changed` on request, offer, contact and agent
events), at most every ``MIN_GAP`` seconds however busy the router is, and at least every
``stats_interval`` seconds. The recent past (reports database) goes out every
``wallboard_history_interval`` seconds (its minute points slide with the clock). Nothing
is built while no supervisor is connected.
"""

from __future__ import annotations

import logging
import threading
import time

from chat.context import Context
from chat.wallboard import wallboard

log = logging.getLogger(__name__)

MIN_GAP = 0.25
"""Seconds between two live pushes at most (one build serves every supervisor)."""
BUILD_SHARE = 3
"""The gap is also at least this many times the last build's duration, so building the
board takes at most a third of the process's time on a large centre (1,000 agents, 20
queues: about 0.17 s a build)."""


class _Stop(threading.Event):
    """The thread's stop flag; setting it also wakes the wait on ``wake``."""

    def __init__(self, wake: threading.Event) -> None:
        super().__init__()
        self.wake = wake

    def set(self) -> None:
        super().set()
        self.wake.set()


class BoardPusher(threading.Thread):
    """The live board, on change (debounced) and every ``stats_interval`` seconds."""

    def __init__(self, c: Context) -> None:
        super().__init__(name="chat-board", daemon=True)
        self.c = c
        self.board = wallboard(c)
        self.stopping = _Stop(self.board.changed)

    def run(self) -> None:
        board = self.board
        last = took = 0.0
        while not self.stopping.is_set():
            board.changed.wait(self.c.settings.stats_interval)
            if self.stopping.is_set():
                return
            gap = max(MIN_GAP, BUILD_SHARE * took) - (time.monotonic() - last)
            if gap > 0 and self.stopping.wait(gap):
                return
            board.changed.clear()
            if not self.c.hub.count().get("supervisor"):
                continue
            last = time.monotonic()
            try:
                self.c.hub.to_supervisors(board.live())
            except Exception:
                log.exception("supervisor board update failed")
            took = time.monotonic() - last


class HistoryPusher(threading.Thread):
    """The recent past, every ``wallboard_history_interval`` seconds."""

    def __init__(self, c: Context) -> None:
        super().__init__(name="chat-board-history", daemon=True)
        self.c = c
        self.stopping = threading.Event()

    def run(self) -> None:
        board = wallboard(self.c)
        while not self.stopping.wait(board.history_interval):
            if not self.c.hub.count().get("supervisor"):
                continue
            try:
                self.c.hub.to_supervisors(board.history(max_age=0))
            except Exception:
                log.exception("supervisor board history failed")
