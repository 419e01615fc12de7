"""One websocket connection: a bounded outbox drained by its own writer thread.

Fan-out never writes to a socket itself: it drops frames into the outbox, so a slow
client can never stall delivery to everyone else. A client whose outbox overflows is
disconnected; it reconnects and the transcript replay gives it everything it missed.

Also holds the thin wrap around simple-websocket (see `harden`): its `send` calls
`socket.send` once and ignores partial writes, which under gevent (non-blocking sockets)
truncates large frames, and its reader thread writes pongs on the same socket without a
lock. We route every write through one lock and `sendall`.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import queue
import threading
from typing import Any

from simple_websocket import ConnectionClosed

from chat import protocol
from chat.ratelimit import TokenBucket

log = logging.getLogger(__name__)
_ids = itertools.count(1)
_CLOSE = object()


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
    ) -> None:
        self.id = next(_ids)
        self.service = service
        self.ws = harden(ws)
        self.kind = kind
        self.identity = identity
        self.sessions: set[str] = set()
        self.bucket = TokenBucket(rate, burst)
        self._outbox: queue.Queue[Any] = queue.Queue()
        self._limit = outbox_limit
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
        if data is None and not self.ws.connected:
            raise ConnectionClosed(self.ws.close_reason, self.ws.close_message)
        return data

    def close(self, code: int = 1000, message: str = "") -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        self._outbox.put((_CLOSE, code, message))

    def wait_closed(self, timeout: float = 5.0) -> None:
        self._writer.join(timeout)

    def _drain(self) -> None:
        try:
            while True:
                item = self._outbox.get()
                if isinstance(item, tuple) and item[0] is _CLOSE:
                    with contextlib.suppress(ConnectionClosed, OSError):
                        self.ws.close(item[1], item[2])
                    return
                self.ws.send(item)
        except (ConnectionClosed, OSError):
            self._closed.set()
