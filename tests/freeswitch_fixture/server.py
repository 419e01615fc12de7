"""The fake FreeSWITCH's event socket: a TCP server behaving like mod_event_socket (inbound mode).

It follows mod_event_socket.c of FreeSWITCH 1.10/1.11 and the recorded transcripts: each
client connection is a Listener (listener.py: auth, commands, subscriptions, event queue);
this module accepts them, fires events to them, runs API commands (`api` in the
connection's thread, `bgapi` in a thread of its own, then BACKGROUND_JOB) and owns the call
model (calls.py) whose commands it runs.

It runs in plain threads with blocking sockets, so the code under test may use gevent,
asyncio or threads in the test process without anything being monkey-patched.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time
from collections.abc import Callable

from .api import ApiHandler, show, status
from .calls import CallModel
from .events import EventFactory, FsEvent
from .listener import MAX_QUEUE_LEN, Listener


class FakeFreeSwitch:
    """An event socket on 127.0.0.1 that behaves like FreeSWITCH 1.11's mod_event_socket.

    `api_handlers` maps API command names to functions taking the argument string (or None)
    and returning the text FreeSWITCH would (ending in a newline, as its commands do).
    """

    def __init__(self, password: str = "ClueCon", *, write_mode: str = "freeswitch") -> None:
        if write_mode not in ("freeswitch", "bytewise"):
            raise ValueError(f"write_mode must be 'freeswitch' or 'bytewise', not {write_mode!r}")
        self.password = password
        self.write_mode = write_mode
        self.events = EventFactory()
        self.started_at = time.time()
        self.api_handlers: dict[str, ApiHandler] = {"status": self._status, "show": self._show}
        self.channel_rows: Callable[[], list[dict[str, str]]] = list
        """The rows of `show channels` (the call model replaces this)."""
        self.registration_rows: Callable[[], list[dict[str, str]]] = list
        """The rows of `show registrations` (the call model replaces this)."""
        self.calls = CallModel(self)
        self.max_queue = MAX_QUEUE_LEN
        """Events queued per connection before FreeSWITCH starts losing them (tests lower it)."""
        self.accepting = True
        """False: accept connections and close them at once (FreeSWITCH down or restarting)."""
        self.listeners: list[Listener] = []
        self.all_listeners: list[Listener] = []
        self._lock = threading.Lock()
        self._server: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self.port = 0

    # -- lifecycle -----------------------------------------------------------------------

    def start(self, port: int = 0) -> FakeFreeSwitch:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", port))
        server.listen(16)
        self._server = server
        self.port = server.getsockname()[1]
        self._accept_thread = threading.Thread(
            target=self._accept, name="fake-fs-accept", daemon=True
        )
        self._accept_thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            with contextlib.suppress(OSError):
                self._server.close()
            self._server = None
        for listener in self.connected():
            listener.kill()
        for listener in list(self.all_listeners):
            listener.thread.join(5)
        if self._accept_thread is not None:
            self._accept_thread.join(5)

    def __enter__(self) -> FakeFreeSwitch:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _accept(self) -> None:
        while self._server is not None:
            try:
                readable, _, _ = select.select([self._server], [], [], 0.05)
                if not readable or self._server is None:
                    continue
                sock, address = self._server.accept()
            except (OSError, ValueError):
                return
            if not self.accepting:
                sock.close()
                continue
            listener = Listener(self, sock, address)
            with self._lock:
                self.listeners.append(listener)
                self.all_listeners.append(listener)
            listener.thread.start()

    def forget(self, listener: Listener) -> None:
        """`listener` closed: it is no longer connected."""
        with self._lock:
            if listener in self.listeners:
                self.listeners.remove(listener)

    # -- what tests use ------------------------------------------------------------------

    def connected(self) -> list[Listener]:
        """The client connections open right now."""
        with self._lock:
            return list(self.listeners)

    def wait_for_clients(
        self, count: int = 1, timeout: float = 10.0, *, subscribed: bool = True
    ) -> list[Listener]:
        """Wait until `count` clients are connected (and authenticated and subscribed)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready = [
                c for c in self.connected() if c.authed and (c.events_enabled or not subscribed)
            ]
            if len(ready) >= count:
                return ready
            time.sleep(0.01)
        raise AssertionError(
            f"fake FreeSWITCH: {count} client(s) did not connect within {timeout} s"
        )

    def fire(self, event: FsEvent) -> None:
        """Deliver `event` to every connection that subscribed to it."""
        for listener in self.connected():
            listener.offer(event)

    def inject(self, data: bytes, *, now: bool = False) -> None:
        """Send raw bytes to every authenticated connection (see Listener.inject)."""
        for listener in self.connected():
            if listener.authed:
                listener.inject(data, now=now)

    def drop_clients(self) -> None:
        """Cut every client connection without a disconnect notice (network drop)."""
        for listener in self.connected():
            listener.kill()

    # -- API commands ----------------------------------------------------------------------

    def _execute(self, name: str, arg: str | None) -> tuple[str, Callable[[], None] | None]:
        handler = self.api_handlers.get(name)
        if handler is None:
            return f"-ERR {name} Command not found!\n", None
        result = handler(arg)
        return result if isinstance(result, tuple) else (result, None)

    def run_api(self, name: str, arg: str | None) -> str:
        """switch_api_execute as mod_event_socket's api_exec reports it (`-ERR no reply`)."""
        reply, then = self._execute(name, arg)
        if then is not None:
            then()
        return reply or "-ERR no reply\n"

    def run_background(self, job_uuid: str, name: str, arg: str | None) -> None:
        """bgapi: run in a thread of its own, then fire BACKGROUND_JOB with the output."""

        def job() -> None:
            reply, then = self._execute(name, arg)
            self.fire(self.events.background_job(job_uuid, name, arg, reply))
            if then is not None:
                then()

        threading.Thread(target=job, name=f"fake-fs-bgapi-{name}", daemon=True).start()

    def _status(self, arg: str | None) -> str:
        return status(self.started_at, self.channel_rows)

    def _show(self, arg: str | None) -> str:
        return show(arg, self.channel_rows, self.registration_rows)

    # -- registrations -------------------------------------------------------------------

    def register(
        self, user: str, domain: str = "127.0.0.1", contact_host: str = "127.0.0.1:5064"
    ) -> None:
        """A phone registers: CUSTOM sofia::register, then PRESENCE_IN (presence-on-register)."""
        self.fire(self.events.registration(user, domain, contact_host))
        self.fire(self.events.presence_in(user, domain, "Registered"))

    def unregister(
        self, user: str, domain: str = "127.0.0.1", contact_host: str = "127.0.0.1:5064"
    ) -> None:
        """A phone unregisters: PRESENCE_IN (Unregistered), then CUSTOM sofia::unregister."""
        self.fire(self.events.presence_in(user, domain, "Unregistered"))
        self.fire(self.events.unregistration(user, domain, contact_host))
