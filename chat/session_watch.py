"""Closes the open staff websockets whose login session ended.

HTTP requests check the session on every call; a websocket is checked once, at the
upgrade, and may stay open for hours. Every ``session_check_interval`` seconds this
thread checks the sessions of all agent and supervisor websockets held here (one Redis
round trip for all of them) and closes those that were revoked, logged out, expired, or
whose password changed, with :data:`REVOKED_CLOSE_CODE`. Polling reaches connections on
every instance without a broadcast that could be missed. While Redis cannot be reached
the connections are left alone (nothing else works then either) and checked next round.
"""

from __future__ import annotations

import logging
import threading

from chat.context import Context
from chat.errors import ChatError

log = logging.getLogger(__name__)

REVOKED_CLOSE_CODE = 4401
"""Websocket close code: the login session was revoked or expired; log in again (the
desktop and supervisor pages go to the login page instead of reconnecting)."""
REVOKED_REASON = "session revoked or expired: log in again"


class SessionWatch(threading.Thread):
    def __init__(self, c: Context) -> None:
        super().__init__(name="chat-session-watch", daemon=True)
        self.c = c
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(self.c.settings.session_check_interval):
            self.sweep()

    def sweep(self) -> int:
        """Close the staff connections of ended sessions; returns how many."""
        conns = [conn for conn in self.c.hub.all() if conn.principal is not None]
        if not conns:
            return 0
        try:
            live = self.c.staff_sessions.live([conn.principal for conn in conns])
        except ChatError as e:
            log.warning("staff sessions not checked: %s", e)
            return 0
        closed = 0
        for conn, ok in zip(conns, live, strict=True):
            if not ok:
                log.info("%r: login session ended, closing", conn)
                conn.close(REVOKED_CLOSE_CODE, REVOKED_REASON)
                closed += 1
        return closed
