"""One websocket connection: a bounded outbox drained by its own writer thread.

Fan-out never writes to a socket itself: it drops frames into the outbox, so a slow
client can never stall delivery to everyone else. A client whose outbox overflows is
disconnected; it reconnects and the transcript replay gives it everything it missed.

Also holds the thin wrap around simple-websocket (see `harden`): its `send` calls
`socket.send` once and ignores partial writes, which under gevent (non-blocking sockets)
truncates large frames, and its reader thread writes pongs on the same socket without a
lock. We route every write through one lock and `sendall`.

Keep-alive pings are ours too (:class:`KeepAlive`, one loop for all connections):
simple-websocket's own ``ping_interval`` runs a selector per connection around every
read, which under gevent cost about a sixth of the worker's CPU at 5,000 connections.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import queue
import socket
import threading
from typing import Any

from simple_websocket import ConnectionClosed
from wsproto.events import Ping, TextMessage
from wsproto.utilities import LocalProtocolError

from chat import protocol
from chat.ratelimit import TokenBucket

log = logging.getLogger(__name__)
_ids = itertools.count(1)
_CLOSE = object()
_PING = object()
WRITE_BATCH = 64
ECHO_MEMORY = 64


class _LockedSocket:
    """A socket proxy whose `send` writes everything, one writer at a time."""

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._lock = threading.Lock()

    def send(self, data: bytes) -> int:
        with self._lock:
            self._sock.sendall(data)
        return len(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def harden(ws: Any) -> Any:
    """Make a simple-websocket connection's writes whole and serialised (see module doc)."""
    if not isinstance(ws.sock, _LockedSocket):
        ws.sock = _LockedSocket(ws.sock)
    return ws


class Connection:
    """A client's websocket as the hub sees it: push frames, receive frames, close."""

    def __init__(
        self,
        ws: Any,
        kind: str,
        identity: str,
        outbox_limit: int,
        rate: float,
        burst: int,
        service: str = "",
        principal: Any = None,
    ) -> None:
        self.id = next(_ids)
        self.principal = principal
        """The staff login (chat.tokens.StaffPrincipal) behind an agent or supervisor
        connection, re-checked by chat.session_watch; None for customers."""
        self.service = service
        self.ws = harden(ws)
        self.kind = kind
        self.identity = identity
        self.sessions: set[str] = set()
        self.bucket = TokenBucket(rate, burst)
        self._outbox: queue.Queue[Any] = queue.Queue()
        self._limit = outbox_limit
        self._echoes: dict[str, None] = {}
        self._closed = threading.Event()
        self._writer = threading.Thread(
            target=self._drain, name=f"ws-writer-{self.id}", daemon=True
        )
        self._writer.start()

    def __repr__(self) -> str:
        return f"<Connection {self.id} {self.kind}:{self.identity}>"

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def push(self, frame: dict[str, Any]) -> None:
        """Queue a frame for the client; never blocks."""
        if self._closed.is_set():
            return
        if self._outbox.qsize() >= self._limit:
            log.warning("%r: outbox full, disconnecting the slow client", self)
            self.close(1008, "too slow: reconnect to resume")
            return
        self._outbox.put(protocol.dumps(frame))

    def receive(self, timeout: float | None = None) -> str | bytes | None:
        """The next client frame, None on timeout; raises ConnectionClosed when gone."""
        data = self.ws.receive(timeout=timeout)
        if data is None and (not self.ws.connected or self._closed.is_set()):
            raise ConnectionClosed(self.ws.close_reason, self.ws.close_message)
        return data

    def close(self, code: int = 1000, message: str = "") -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        self._outbox.put((_CLOSE, code, message))
        self.ws.event.set()  # wake receive() so the handler sees the close

    def ping(self) -> bool:
        """Send a websocket ping; False (and the connection is closed) when the previous
        ping got no pong - a half-open connection, say a laptop that went to sleep."""
        if self._closed.is_set():
            return False
        if not self.ws.pong_received:
            self.close(1008, "no pong: reconnect to resume")
            return False
        self.ws.pong_received = False
        self._outbox.put(_PING)
        return True

    def wait_closed(self, timeout: float = 5.0) -> None:
        """Wait until the writer has sent the queued frames and the close frame (or
        found the peer gone); at most ``timeout`` seconds."""
        self._writer.join(timeout)

    def expect_echo(self, cid: str) -> None:
        """This connection is about to store an entry under ``cid``; its ack tells the
        client everything, so the fan-out's copy of that entry is not sent back to it."""
        self._echoes[cid] = None
        if len(self._echoes) > ECHO_MEMORY:
            del self._echoes[next(iter(self._echoes))]

    def is_echo(self, entry: dict[str, Any]) -> bool:
        cid = entry.get("cid")
        if cid is not None and cid in self._echoes:
            del self._echoes[cid]
            return True
        return False

    def _drain(self) -> None:
        # Frames queued meanwhile go out in one write: fewer system calls under load.
        try:
            while True:
                items = [self._outbox.get()]
                while len(items) < WRITE_BATCH:
                    try:
                        items.append(self._outbox.get_nowait())
                    except queue.Empty:
                        break
                out = bytearray()
                for item in items:
                    if not self.ws.connected:
                        raise ConnectionClosed(self.ws.close_reason, self.ws.close_message)
                    if isinstance(item, str):
                        out += self.ws.ws.send(TextMessage(data=item))
                    elif item is _PING:
                        out += self.ws.ws.send(Ping())
                    else:
                        if out:
                            self.ws.sock.send(bytes(out))
                        with contextlib.suppress(ConnectionClosed, OSError):
                            self.ws.close(item[1], item[2])
                        self._hang_up()
                        return
                self.ws.sock.send(bytes(out))
        except (ConnectionClosed, OSError, LocalProtocolError):
            self._closed.set()
            self._hang_up()

    def _hang_up(self) -> None:
        # The close frame is queued in the kernel; shutting the socket down delivers it and
        # ends simple-websocket's reader even when the peer is gone (no pings there).
        self.ws.event.set()
        with contextlib.suppress(OSError):
            self.ws.sock.shutdown(socket.SHUT_RDWR)


class KeepAlive(threading.Thread):
    """Pings every connection of the hub once every ``interval`` seconds; a connection
    whose last ping got no pong is closed (its client reconnects and resumes).

    The pings are spread over the interval: a tick of at most a second pings one slice of
    the connections (by id). Pinging 5,000 connections at once made them all answer at
    once, and that burst delayed every chat message by 0.3-0.5 s once per interval
    (measured with benchmarks/chat_fanout.py at 1,000 messages/s)."""

    TICK_S = 1.0

    def __init__(self, connections: Any, interval: float) -> None:
        super().__init__(name="ws-keepalive", daemon=True)
        self.connections = connections
        self.tick = min(self.TICK_S, interval)
        self.slices = max(1, round(interval / self.tick))
        self.stopping = threading.Event()

    def run(self) -> None:
        for n in itertools.count():
            if self.stopping.wait(self.tick):
                return
            self.round(n % self.slices)

    def round(self, part: int | None = None) -> int:
        """Ping the connections of slice PART (all of them when None); returns how many
        connections were dropped for not answering the previous ping."""
        dropped = 0
        for conn in self.connections():
            if part is not None and conn.id % self.slices != part:
                continue
            if not conn.ping():
                dropped += 1
        if dropped:
            log.info("dropped %d connections that did not answer a ping", dropped)
        return dropped
