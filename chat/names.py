"""Agents' display names for transcript entries, cached briefly.

Entries name agents by their login id (``agent``). People reading a timeline want the
display name (the router profile's ``name``), and customers must never see the login:
entries are delivered with ``agent_name`` added (see :mod:`chat.visibility`, which keeps
only that for customers). A profile is read at most once per ``ttl`` seconds per agent.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from router.client import RouterClient

DEFAULT_TTL = 60.0


class AgentNames:
    """Agent id -> display name, from the router's profiles (thread/greenlet safe)."""

    def __init__(self, client: RouterClient, ttl: float = DEFAULT_TTL) -> None:
        self.client = client
        self.ttl = ttl
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, str]] = {}

    def name(self, agent_id: str) -> str:
        """The display name, or "" when the agent has none (or cannot be read now)."""
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(agent_id)
        if hit is not None and hit[0] > now:
            return hit[1]
        try:
            state = self.client.agent(agent_id)
        except Exception:  # Redis down: a name is never worth failing a delivery
            return hit[1] if hit else ""
        name = state.profile.name if state is not None else ""
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[agent_id] = (now + self.ttl, name)
        return name

    def named(self, entry: dict[str, Any]) -> dict[str, Any]:
        """The entry with ``agent_name`` added when it names an agent (a copy)."""
        agent = entry.get("agent")
        if not agent or not isinstance(agent, str) or "agent_name" in entry:
            return entry
        return {**entry, "agent_name": self.name(agent)}
