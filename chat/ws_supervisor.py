"""The supervisor page's websocket: agents and queue statistics, pushed live."""

from __future__ import annotations

from typing import Any

from chat import protocol
from chat.connection import Connection
from chat.context import Context
from chat.protocol import Hello, Ping
from chat.ws_common import serve


class SupervisorLink:
    def __init__(self, c: Context, conn: Connection) -> None:
        self.c = c
        self.conn = conn

    def run(self) -> None:
        serve(self.c, self.conn, protocol.SUPERVISOR_FRAMES, self.handle)

    def handle(self, frame: Any) -> None:
        if isinstance(frame, Ping):
            self.conn.push({"type": "pong"})
        elif isinstance(frame, Hello):
            self.conn.push(snapshot(self.c))


def snapshot(c: Context) -> dict[str, Any]:
    """Everything the supervisor page shows, as one frame."""
    return {
        "type": "board",
        "agents": c.admin.agent_summaries(),
        "queues": [q.model_dump() for q in c.admin.queue_stats()],
        "connections": c.hub.count(),
    }
