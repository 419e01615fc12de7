"""The AMI protocol sends the actions of one loop tick in one write, and every action
still gets its own reply (a real TCP peer answering like Asterisk: one Response per
action, tied by ActionID)."""

from __future__ import annotations

import asyncio
import contextlib
import types
from typing import Any

import pytest

from ami_bridge.cli import run_loop
from ami_bridge.panoramisk_fixes import _Protocol


class Peer:
    """A TCP peer that records each chunk it reads and answers every action."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.writer: asyncio.StreamWriter | None = None

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        writer.write(b"Asterisk Call Manager/11.0.0\r\n")
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await self._read(reader, writer)
        writer.close()

    async def _read(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        buffer = b""
        while data := await reader.read(65536):
            self.chunks.append(data)
            buffer += data
            *actions, buffer = buffer.split(b"\r\n\r\n")
            for action in actions:
                headers = dict(
                    line.split(": ", 1) for line in action.decode().split("\r\n") if ": " in line
                )
                said = f"{headers['Action']} {headers.get('Variable', '')}".strip()
                reply = f"Response: Success\r\nActionID: {headers['ActionID']}\r\nMessage: {said}\r\n\r\n"
                writer.write(reply.encode())


class Counted:
    """The real transport, its writes counted (uvloop's transports cannot be patched)."""

    def __init__(self, transport: Any, writes: list[bytes]) -> None:
        self._transport = transport
        self._writes = writes

    def write(self, data: bytes) -> None:
        self._writes.append(data)
        self._transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


@pytest.mark.parametrize("event_loop", ["asyncio", "uvloop"])
def test_one_tick_one_write_each_action_its_reply(event_loop: str) -> None:
    out: list[Any] = []

    async def body() -> None:
        peer = Peer()
        writes: list[bytes] = []
        server = await asyncio.start_server(peer.serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        loop = asyncio.get_running_loop()
        assert (type(loop).__module__.split(".")[0] == "uvloop") == (event_loop == "uvloop")
        transport, protocol = await loop.create_connection(_Protocol, "127.0.0.1", port)
        protocol.transport = Counted(transport, writes)
        # what panoramisk's Manager would be: told when the link ends
        protocol.factory = types.SimpleNamespace(
            connection_lost=lambda exc: None, forgetable_actions=(), awaiting_actions=[]
        )
        actions = [
            {"Action": "Setvar", "Channel": "c1", "Variable": "A", "Value": "1"},
            {"Action": "Setvar", "Channel": "c1", "Variable": "B", "Value": "2"},
            {"Action": "Redirect", "Channel": "c1", "Context": "x", "Exten": "s"},
        ]
        replies = await asyncio.wait_for(asyncio.gather(*(protocol.send(a) for a in actions)), 5)
        chunks_after_first_tick = list(writes)
        later = await asyncio.wait_for(protocol.send({"Action": "Ping"}), 5)
        protocol.transport.close()
        await asyncio.sleep(0.1)  # the peer sees the end and closes its side
        server.close()
        await server.wait_closed()
        out.extend([peer, chunks_after_first_tick, replies, later])

    run_loop(body(), event_loop)  # how `implus ami-bridge` runs (uvloop by default)
    peer, first, replies, later = out
    assert len(first) == 1  # the three actions of one tick went out in one write
    assert first[0].count(b"Action: ") == 3
    assert [r["Message"] for r in replies] == ["Setvar A", "Setvar B", "Redirect"]
    assert later["Message"] == "Ping"  # a later tick: a write of its own
    assert b"".join(peer.chunks).count(b"Action: ") == 4
