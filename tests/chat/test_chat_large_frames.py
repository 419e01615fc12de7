"""Regression test for the simple-websocket write fix (`chat.connection.harden`).

simple-websocket 1.1 sends a frame with ONE `socket.send` and ignores partial writes.
Under gevent (non-blocking sockets) a frame larger than what the kernel takes at once is
then cut short: the client gets a broken frame and the connection is lost. `harden`
routes every write through `sendall` under one lock. This test makes the server send a
multi-megabyte frame (an agent opening a long session) to a client that reads slowly
through a small receive buffer, so partial writes are certain, and checks that the frame
arrives whole and the connection stays usable.
"""

from __future__ import annotations

import json
import socket
import time

import pytest
import websocket
from chattest import Stack, say

pytestmark = [pytest.mark.redis, pytest.mark.slow]
ENTRIES = 48
TEXT = "x" * 60_000  # just under the router's 64 KiB per transcript entry


def test_a_frame_of_megabytes_reaches_a_slow_reader_whole(stack: Stack) -> None:
    token = stack.agent("alice")
    stack.desktop("alice")
    cust = stack.customer("u1")
    sid = say(cust, "a long story follows")["session_id"]
    for i in range(ENTRIES):
        stack.router.append(sid, {"type": "message", "from": "customer", "text": f"{i}:{TEXT}"})
    slow = websocket.WebSocket(sockopt=((socket.SOL_SOCKET, socket.SO_RCVBUF, 4096),))
    slow.settimeout(30)
    slow.connect(f"{stack.chat.ws_url}/ws/agent", header=[f"Authorization: Bearer {token}"])
    try:
        slow.send(json.dumps({"type": "hello"}))
        slow.send(json.dumps({"type": "open", "session_id": sid}))
        time.sleep(1.0)  # let the server run into a full socket buffer
        frame = None
        while frame is None or frame["type"] != "session":
            frame = json.loads(slow.recv())
        texts = [e["text"] for e in frame["entries"] if e["type"] == "message"]
        assert len(json.dumps(frame)) > 2_500_000
        assert texts[1:] == [f"{i}:{TEXT}" for i in range(ENTRIES)]
        slow.send(json.dumps({"type": "ping"}))
        while (f := json.loads(slow.recv()))["type"] != "pong":
            assert f["type"] in ("offer", "offer_gone", "agent_status", "entry"), f
    finally:
        slow.close()
