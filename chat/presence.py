"""Agent presence: a live desktop websocket keeps the agent's ``desktop`` lease alive.

The router only offers work to agents whose ``desktop`` lease (and, for calls, ``sip``
lease) has not run out; its reaper logs an agent off when the lease lapses. Each chat
instance renews the lease of every agent with a desktop websocket open here, every third
of the lease, from the server side: browsers throttle timers in background tabs (down to
once a minute), so a desktop-side heartbeat alone would let a lease lapse while the
agent is still there. A closed laptop or a dead instance stops the renewals, and the
lease runs out within ``heartbeat_ttl`` seconds - nobody stays "available" by accident.
The websocket's own ping (``ping_interval``) drops half-open connections.
"""

from __future__ import annotations

import logging
import threading

from chat.context import Context
from chat.errors import ChatError

log = logging.getLogger(__name__)


class PresenceKeeper(threading.Thread):
    def __init__(self, c: Context) -> None:
        super().__init__(name="chat-presence", daemon=True)
        self.c = c
        self.stopping = threading.Event()

    def run(self) -> None:
        interval = self.c.settings.heartbeat_ttl / 3
        while not self.stopping.wait(interval):
            self.renew()

    def renew(self) -> int:
        """Renew the lease of every agent connected here; returns how many."""
        agents = self.c.hub.agent_ids()
        for agent_id in agents:
            try:
                self.c.service.heartbeat(agent_id)
            except ChatError as e:  # removed agent, Redis restarting: try again next round
                log.warning("presence of %s not renewed: %s", agent_id, e)
        return len(agents)
