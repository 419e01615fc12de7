"""The supervisor page's websocket: the wall board, pushed live (chat.wallboard_push)."""

from __future__ import annotations

from typing import Any

from chat import protocol
from chat.connection import Connection
from chat.context import Context
from chat.protocol import Hello, Ping
from chat.wallboard import wallboard
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
            self.conn.push(wallboard(self.c).history())


def snapshot(c: Context) -> dict[str, Any]:
    """Everything the supervisor page shows live, as one ``board`` frame."""
    return wallboard(c).live()
