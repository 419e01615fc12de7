"""A close the server decides (session revoked: 4401, too slow: 1008, try later: 1013)
reaches the client with its own code, after every frame queued before it.

The handler returns as soon as it sees its connection closed, and flask-sock then closes
the websocket itself with 1000. Before the fix the handler could return before the
connection's writer had sent the queued frames and the close frame; the client then got
1000, a revoked desktop reconnected instead of going to the login page (seen in CI), and
the queued frames were lost.
"""

from __future__ import annotations

import queue
import threading
import time
import types
from collections.abc import Iterator
from typing import Any

import pytest
import websocket
from flask import Flask
from flask_sock import Sock
from pydantic import BaseModel, TypeAdapter
from werkzeug.serving import make_server

from chat.connection import Connection
from chat.hub import Hub
from chat.metrics import Metrics
from chat.settings import Settings
from chat.ws_common import serve

FRAMES = 24
FILLER = "x" * 4_000_000  # 96 MB in all, more than loopback buffers hold (up to 32 MB)


class End(BaseModel):
    type: str


class Server:
    """flask-sock on werkzeug, one route served by chat.ws_common.serve. A client frame
    makes the handler queue FRAMES big frames and close the connection, as a handler does
    when a frame ends the link (``unavailable`` hello: 1013)."""

    def __init__(self) -> None:
        self.sent_when_served: queue.Queue[bool] = queue.Queue()
        c: Any = types.SimpleNamespace(
            hub=Hub(), metrics=Metrics(), settings=Settings(secret_key="s" * 32)
        )
        app = Flask(__name__)

        @Sock(app).route("/ws")
        def ws_route(ws: Any) -> None:
            conn = Connection(ws, "agent", "alice", outbox_limit=100, rate=100, burst=100)

            def handle(frame: Any) -> None:
                for i in range(FRAMES):
                    conn.push({"type": "filler", "n": i, "text": FILLER})
                conn.close(4401, "session revoked or expired: log in again")

            serve(c, conn, TypeAdapter(End), handle)
            # what flask-sock finds when it closes the websocket itself (with 1000)
            self.sent_when_served.put(not conn.ws.connected)

        self.http = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"ws://127.0.0.1:{self.http.server_port}/ws"


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    threading.Thread(target=s.http.serve_forever, daemon=True).start()
    yield s
    s.http.shutdown()


def read_to_close(client: websocket.WebSocket) -> tuple[int, int]:
    """(frames read, close code) once the server's close frame arrives."""
    frames = 0
    while True:
        opcode, frame = client.recv_data_frame(True)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            return frames, int.from_bytes(frame.data[:2], "big")
        frames += 1


def test_the_close_code_follows_every_queued_frame(server: Server) -> None:
    client = websocket.create_connection(server.url, timeout=10, skip_utf8_validation=True)
    client.send('{"type": "end"}')
    time.sleep(0.5)  # the handler has closed; the writer is stuck in a full socket
    got = read_to_close(client)
    client.shutdown()
    assert got == (FRAMES, 4401)
    assert server.sent_when_served.get(timeout=5) is True
