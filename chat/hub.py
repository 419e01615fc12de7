"""The connections this process holds, indexed by agent, session and role.

Pure bookkeeping plus delivery: fan-out decides WHAT to send, the hub knows WHO is here.
Transcript entries and live session frames reach customer connections only as
:mod:`chat.visibility` projects them (notes never), applied here so no caller can forget it.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from chat import protocol
from chat.connection import Connection
from chat.visibility import for_customer, frame_for_customer


class Hub:
    """Thread/greenlet-safe registry; delivery only queues frames (never blocks)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._agents: dict[str, set[Connection]] = defaultdict(set)
        self._sessions: dict[str, set[Connection]] = defaultdict(set)
        self._supervisors: set[Connection] = set()
        self._customers: dict[tuple[str, str], set[Connection]] = defaultdict(set)
        self._all: set[Connection] = set()
        self._chat_epochs: dict[str, int] = {}

    # registration -------------------------------------------------------------------
    def add(self, conn: Connection) -> None:
        with self._lock:
            self._all.add(conn)
            if conn.kind == "agent":
                self._agents[conn.identity].add(conn)
            elif conn.kind == "supervisor":
                self._supervisors.add(conn)
            elif conn.kind == "customer":
                self._customers[(conn.identity, conn.service)].add(conn)

    def remove(self, conn: Connection) -> None:
        with self._lock:
            self._all.discard(conn)
            _discard(self._agents, conn.identity, conn)
            self._supervisors.discard(conn)
            if conn.kind == "customer":
                members = self._customers.get((conn.identity, conn.service))
                if members is not None:
                    members.discard(conn)
                    if not members:
                        del self._customers[(conn.identity, conn.service)]
            for sid in conn.sessions:
                _discard(self._sessions, sid, conn)
                if sid not in self._sessions:
                    self._chat_epochs.pop(sid, None)
            conn.sessions.clear()

    def subscribe(self, conn: Connection, session_id: str) -> None:
        with self._lock:
            if conn in self._all:
                conn.sessions.add(session_id)
                self._sessions[session_id].add(conn)

    def unsubscribe(self, conn: Connection, session_id: str) -> None:
        with self._lock:
            conn.sessions.discard(session_id)
            _discard(self._sessions, session_id, conn)

    def subscribe_agent(self, agent_id: str, session_id: str) -> list[Connection]:
        """Subscribe every desktop of the agent to the session; returns them."""
        with self._lock:
            conns = list(self._agents.get(agent_id, ()))
            for c in conns:
                c.sessions.add(session_id)
                self._sessions[session_id].add(c)
            return conns

    def subscribe_customer(self, user_id: str, service: str, session_id: str) -> list[Connection]:
        """Subscribe the user's widgets for the service to its (new) session; returns them."""
        with self._lock:
            conns = list(self._customers.get((user_id, service), ()))
            for c in conns:
                c.sessions.add(session_id)
                self._sessions[session_id].add(c)
            return conns

    def unsubscribe_agent(self, agent_id: str, session_id: str) -> None:
        with self._lock:
            for c in list(self._agents.get(agent_id, ())):
                c.sessions.discard(session_id)
                _discard(self._sessions, session_id, c)

    # chat request liveness ------------------------------------------------------------
    def chat_epoch(self, session_id: str) -> int:
        """A counter that moves whenever a chat request of the session ends (or the session
        closes). A customer connection that saw a live chat request at epoch N may post
        without asking the router again while the epoch is still N."""
        with self._lock:
            return self._chat_epochs.get(session_id, 0)

    def chat_ended(self, session_id: str) -> None:
        with self._lock:
            if session_id in self._sessions:
                self._chat_epochs[session_id] = self._chat_epochs.get(session_id, 0) + 1

    # queries ------------------------------------------------------------------------
    def agent_ids(self) -> list[str]:
        """Agents with at least one desktop connected to this process."""
        with self._lock:
            return [a for a, conns in self._agents.items() if conns]

    def agent_connections(self, agent_id: str) -> list[Connection]:
        with self._lock:
            return list(self._agents.get(agent_id, ()))

    def session_connections(self, session_id: str) -> list[Connection]:
        with self._lock:
            return list(self._sessions.get(session_id, ()))

    def has_session(self, session_id: str) -> bool:
        with self._lock:
            return bool(self._sessions.get(session_id))

    def count(self) -> dict[str, int]:
        with self._lock:
            kinds: dict[str, int] = defaultdict(int)
            for c in self._all:
                kinds[c.kind] += 1
            return dict(kinds)

    def all(self) -> list[Connection]:
        with self._lock:
            return list(self._all)

    # delivery -----------------------------------------------------------------------
    def deliver_entry(self, session_id: str, entry: dict[str, Any]) -> int:
        """Push a transcript entry to everyone watching the session; customers get their
        projection of it (nothing at all for notes), and the connection that stored it
        has its ack instead. Returns the connections reached."""
        conns = self.session_connections(session_id)
        if not conns:
            return 0
        staff_frame = protocol.entry(session_id, entry)
        public = for_customer(entry)
        customer_frame = protocol.entry(session_id, public) if public is not None else None
        n = 0
        for c in conns:
            frame = customer_frame if c.kind == "customer" else staff_frame
            if frame is not None and not c.is_echo(entry):
                c.push(frame)
                n += 1
        return n

    def to_session(
        self, session_id: str, frame: dict[str, Any], kinds: Iterable[str] | None = None
    ) -> None:
        """Push a live frame to the session's connections (of ``kinds``); customers get
        their projection of it (see :mod:`chat.visibility`), or nothing."""
        wanted = set(kinds) if kinds is not None else None
        public = frame_for_customer(frame)
        for c in self.session_connections(session_id):
            if wanted is not None and c.kind not in wanted:
                continue
            shown = public if c.kind == "customer" else frame
            if shown is not None:
                c.push(shown)

    def to_agent(self, agent_id: str, frame: dict[str, Any]) -> int:
        conns = self.agent_connections(agent_id)
        for c in conns:
            c.push(frame)
        return len(conns)

    def to_supervisors(self, frame: dict[str, Any]) -> None:
        with self._lock:
            conns = list(self._supervisors)
        for c in conns:
            c.push(frame)


def _discard(index: dict[str, set[Connection]], key: str, conn: Connection) -> None:
    members = index.get(key)
    if members is not None:
        members.discard(conn)
        if not members:
            del index[key]
