"""A loopback TCP proxy the tests control, to break an AMI link in specific ways.

- `blackhole()`: stop forwarding in both directions but keep both sockets open - what a
  half-open TCP link looks like to the client (writes succeed, nothing comes back).
- `trickle = True`: forward server->client bytes one per write, so every message and
  every multi-byte UTF-8 character is split across reads.
- `drop_all()`: close every proxied connection (a clean TCP close).
"""

from __future__ import annotations

import asyncio
import contextlib


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.trickle = False
        self.connections = 0
        self._frozen: set[int] = set()
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def blackhole(self) -> None:
        """Freeze every current connection (new ones are forwarded normally)."""
        self._frozen = set(range(1, self.connections + 1))

    async def drop_all(self) -> None:
        for writer in self._writers:
            writer.close()
        self._writers.clear()

    async def close(self) -> None:
        await self.drop_all()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        conn_id = self.connections
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self._writers += [writer, up_writer]

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, down: bool) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await src.read(65536):
                    if conn_id in self._frozen:
                        await asyncio.Event().wait()  # hold both sockets open, forever
                    if down and self.trickle:
                        for i in range(len(data)):
                            dst.write(data[i : i + 1])
                            await dst.drain()
                    else:
                        dst.write(data)
                        await dst.drain()
            dst.close()

        await asyncio.gather(
            pump(reader, up_writer, down=False),
            pump(up_reader, writer, down=True),
            return_exceptions=True,
        )
