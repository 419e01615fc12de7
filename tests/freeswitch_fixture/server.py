"""The fake FreeSWITCH's event socket: a TCP server behaving like mod_event_socket (inbound mode).

It follows mod_event_socket.c of FreeSWITCH 1.10/1.11 and the recorded transcripts:
auth/request on connect; `auth` (+OK accepted, or -ERR invalid then a disconnect notice and
close); `exit` (+OK bye, disconnect notice, close); `api` (answered in the connection's own
thread, header block and body in two writes, events fired meanwhile sent after it); `bgapi`
(reply at once with the Job-UUID - the client's own if it sent a `Job-UUID` header - then
BACKGROUND_JOB from another thread); `event plain|json ...` with CUSTOM subclasses;
`filter` / `filter delete`; `nixevent`; `noevents`; unknown commands get
`-ERR command not found`. Events queue per connection and are written when the connection
is idle, as FreeSWITCH's read_packet loop does.

It runs in plain threads with blocking sockets, so the code under test may use gevent,
asyncio or threads in the test process without anything being monkey-patched.
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import re
import select
import socket
import threading
import time
import uuid
from collections.abc import Callable

from . import wire
from .calls import CallModel
from .events import EventFactory, FsEvent

log = logging.getLogger(__name__)

ApiResult = str | tuple[str, Callable[[], None]]
"""What an API command returns: its output, or its output and what it goes on doing after
answering (originate parks the answered leg, uuid_bridge bridges after replying)."""

ApiHandler = Callable[[str | None], ApiResult]

# switch_event.c EVENT_NAMES: `event` ignores any other keyword.
# fmt: off
EVENT_NAMES = frozenset((
    "CUSTOM", "CLONE", "CHANNEL_CREATE", "CHANNEL_DESTROY", "CHANNEL_STATE", "CHANNEL_CALLSTATE",
    "CHANNEL_ANSWER", "CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE", "CHANNEL_EXECUTE",
    "CHANNEL_EXECUTE_COMPLETE", "CHANNEL_HOLD", "CHANNEL_UNHOLD", "CHANNEL_BRIDGE",
    "CHANNEL_UNBRIDGE", "CHANNEL_PROGRESS", "CHANNEL_PROGRESS_MEDIA", "CHANNEL_OUTGOING",
    "CHANNEL_PARK", "CHANNEL_UNPARK", "CHANNEL_APPLICATION", "CHANNEL_ORIGINATE", "CHANNEL_UUID",
    "API", "LOG", "INBOUND_CHAN", "OUTBOUND_CHAN", "STARTUP", "SHUTDOWN", "PUBLISH", "UNPUBLISH",
    "TALK", "NOTALK", "SESSION_CRASH", "MODULE_LOAD", "MODULE_UNLOAD", "DTMF", "MESSAGE",
    "PRESENCE_IN", "NOTIFY_IN", "PRESENCE_OUT", "PRESENCE_PROBE", "MESSAGE_WAITING",
    "MESSAGE_QUERY", "ROSTER", "CODEC", "BACKGROUND_JOB", "DETECTED_SPEECH", "DETECTED_TONE",
    "PRIVATE_COMMAND", "HEARTBEAT", "TRAP", "ADD_SCHEDULE", "DEL_SCHEDULE", "EXE_SCHEDULE",
    "RE_SCHEDULE", "RELOADXML", "NOTIFY", "PHONE_FEATURE", "PHONE_FEATURE_SUBSCRIBE",
    "SEND_MESSAGE", "RECV_MESSAGE", "REQUEST_PARAMS", "CHANNEL_DATA", "GENERAL", "COMMAND",
    "SESSION_HEARTBEAT", "CLIENT_DISCONNECTED", "SERVER_DISCONNECTED", "SEND_INFO", "RECV_INFO",
    "RECV_RTCP_MESSAGE", "SEND_RTCP_MESSAGE", "CALL_SECURE", "NAT", "RECORD_START", "RECORD_STOP",
    "PLAYBACK_START", "PLAYBACK_STOP", "CALL_UPDATE", "FAILURE", "SOCKET_DATA", "MEDIA_BUG_START",
    "MEDIA_BUG_STOP", "CONFERENCE_DATA_QUERY", "CONFERENCE_DATA", "CALL_SETUP_REQ",
    "CALL_SETUP_RESULT", "CALL_DETAIL", "DEVICE_STATE", "TEXT", "SHUTDOWN_REQUESTED", "ALL",
))

# The `channels` table of FreeSWITCH 1.10/1.11 (core_db), in `show channels` column order.
CHANNEL_COLUMNS = (
    "uuid", "direction", "created", "created_epoch", "name", "state", "cid_name", "cid_num",
    "ip_addr", "dest", "application", "application_data", "dialplan", "context", "read_codec",
    "read_rate", "read_bit_rate", "write_codec", "write_rate", "write_bit_rate", "secure",
    "hostname", "presence_id", "presence_data", "accountcode", "callstate", "callee_name",
    "callee_num", "callee_direction", "call_uuid", "sent_callee_name", "sent_callee_num",
    "initial_cid_name", "initial_cid_num", "initial_ip_addr", "initial_dest", "initial_dialplan",
    "initial_context",
)
# fmt: on
# The core `registrations` table (switch_core_sqldb.c), which `show registrations` lists.
REGISTRATION_COLUMNS = (
    "reg_user",
    "realm",
    "token",
    "url",
    "expires",
    "network_ip",
    "network_port",
    "network_proto",
    "hostname",
    "metadata",
)  # fmt: skip

MAX_QUEUE_LEN = 100_000
MAX_MISSED = 500
"""mod_event_socket queues up to MAX_QUEUE_LEN events per listener; once full, it drops
events, and kills the listener when more than MAX_MISSED have been lost."""


class Listener:
    """One client connection (mod_event_socket's listener_t)."""

    def __init__(self, server: FakeFreeSwitch, sock: socket.socket, address: tuple[str, int]):
        self.server = server
        self.sock = sock
        self.address = address
        self.authed = False
        self.event_format = "plain"
        self.events_enabled = False
        self.event_names: set[str] = set()
        self.subclasses: set[str] = set()
        self.filters: list[tuple[str, str]] = []
        self.commands: list[str] = []
        """Every command line received, in order (for assertions)."""
        self.handled = 0
        """How many of them have been answered."""
        self.writes: list[bytes] = []
        """Every socket write made, in order (its boundaries are FreeSWITCH's)."""
        self._outbox: collections.deque[FsEvent | bytes] = collections.deque()
        self._outbox_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self.lost_events = 0
        self._running = True
        self.closed = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"fake-fs-{address[1]}", daemon=True)

    # -- called from other threads -------------------------------------------------------

    def offer(self, event: FsEvent) -> None:
        """Queue `event` if this listener subscribed to it and its filters let it through."""
        if not (self.authed and self.events_enabled and self._wants(event)):
            return
        with self._outbox_lock:
            if len(self._outbox) >= self.server.max_queue:
                self.lost_events += 1
                if self.lost_events > MAX_MISSED:
                    log.warning("fake FreeSWITCH drops listener %s: events lost", self.address)
                    self.kill()
                return
            self._outbox.append(event)

    def inject(self, data: bytes, *, now: bool = False) -> None:
        """Raw bytes for malformed-input tests: queued in order with events, or with `now`
        written at once (even while this connection is busy running an `api` command)."""
        if now:
            self._write([data])
            return
        with self._outbox_lock:
            self._outbox.append(data)

    def kill(self) -> None:
        """Close the TCP connection at once, without a disconnect notice (a network drop)."""
        self._running = False
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)

    # -- subscription logic (mod_event_socket.c event_handler) -----------------------------

    def _wants(self, event: FsEvent) -> bool:
        if "ALL" not in self.event_names:
            if event.name not in self.event_names:
                return False
            if event.name == "CUSTOM" and event.subclass and event.subclass not in self.subclasses:
                return False
        if not self.filters:
            return True
        send = False
        for name, value in self.filters:
            have = event.get(name)
            if have is None:
                continue
            positive = True
            comp = value
            while comp[:1] in ("+", "-", " "):
                positive = comp[0] != "-" if comp[0] in "+-" else positive
                comp = comp[1:]
            if send and positive:
                continue
            if value.startswith("/"):
                matched = re.search(comp.strip("/"), have) is not None
            else:
                matched = have.lower() == comp.lower()
            if matched:
                if not positive:
                    return False
                send = True
        return send

    # -- the connection's own thread ----------------------------------------------------

    def _write(self, chunks: list[bytes]) -> None:
        with self._write_lock:
            for chunk in chunks:
                self.writes.append(chunk)
                if self.server.write_mode == "bytewise":
                    for i in range(len(chunk)):
                        self.sock.sendall(chunk[i : i + 1])
                else:
                    self.sock.sendall(chunk)

    def _flush_events(self) -> None:
        while True:
            with self._outbox_lock:
                if not self._outbox:
                    return
                item = self._outbox.popleft()
            if isinstance(item, bytes):
                self._write([item])
            else:
                serialize = (
                    wire.serialize_json if self.event_format == "json" else wire.serialize_plain
                )
                payload = serialize(item.headers, item.body)
                self._write(wire.event_message(payload, self.event_format))

    def _run(self) -> None:
        buffer = b""
        try:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._write(wire.auth_request())
            while self._running:
                if self.authed:
                    self._flush_events()
                readable, _, _ = select.select([self.sock], [], [], 0.02)
                if not readable:
                    continue
                data = self.sock.recv(65536)
                if not data:
                    break
                buffer += data
                while self._running:
                    buffer = buffer.lstrip(b"\r\n")
                    end = buffer.find(b"\n\n")
                    if end < 0:
                        break
                    packet, buffer = buffer[: end + 1], buffer[end + 2 :]
                    lines = packet.decode("utf-8", "replace").replace("\r", "").split("\n")
                    headers = dict(line.split(":", 1) for line in lines[1:] if ":" in line)
                    headers = {k.strip().lower(): v.strip() for k, v in headers.items()}
                    self.commands.append(lines[0])
                    self._command(lines[0], headers)
                    self.handled += 1
        except OSError:
            pass
        finally:
            self._running = False
            with contextlib.suppress(OSError):
                self.sock.close()
            self.server._forget(self)
            self.closed.set()

    def _goodbye(self) -> None:
        """listener_run's end: disconnect notice, then close."""
        self._write(wire.disconnect_notice())
        self._running = False
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)

    def _command(self, cmd: str, headers: dict[str, str]) -> None:
        lower = cmd.lower()
        if lower.startswith(("exit", "...")):
            self._write(wire.command_reply("+OK bye"))
            self._goodbye()
            return
        if not self.authed:
            if lower.startswith("auth "):
                if cmd[5:] == self.server.password:
                    self.authed = True
                    self._write(wire.command_reply("+OK accepted"))
                else:
                    self._write(wire.command_reply("-ERR invalid"))
                    self._goodbye()
                return
            self._write(wire.command_reply("-ERR command not found"))
            return
        if lower.startswith("filter "):
            self._write(wire.command_reply(self._filter(cmd[7:].lstrip(" "))))
        elif lower.startswith("api "):
            name, _, arg = cmd[4:].partition(" ")
            self._write(wire.api_response(self.server.run_api(name, arg or None)))
        elif lower.startswith("bgapi "):
            name, _, arg = cmd[6:].partition(" ")
            job_uuid = headers.get("job-uuid") or str(uuid.uuid4())
            self._write(wire.bgapi_reply(job_uuid))
            self.server.run_background(job_uuid, name, arg or None)
        elif lower.startswith("nixevent"):
            self._write(wire.command_reply(self._nixevent(cmd.split()[1:])))
        elif lower.startswith("noevents"):
            if self.events_enabled:
                self.events_enabled = False
                self.event_names.clear()
                self.subclasses.clear()
                with self._outbox_lock:
                    self._outbox.clear()
                self._write(wire.command_reply("+OK no longer listening for events"))
            else:
                self._write(wire.command_reply("-ERR not listening for events"))
        elif lower.startswith("event"):
            self._write(wire.command_reply(self._event(cmd.split()[1:])))
        elif lower.startswith(("linger", "nolinger")):
            self._write(wire.command_reply("-ERR not controlling a session"))
        else:
            self._write(wire.command_reply("-ERR command not found"))

    def _event(self, words: list[str]) -> str:
        keys = 0
        custom = False
        for i, word in enumerate(words):
            if i == 0 and word.lower() in ("plain", "json", "xml"):
                self.event_format = word.lower()
                continue
            if custom:
                self.subclasses.add(word)
            elif word.upper().removeprefix("SWITCH_EVENT_") in EVENT_NAMES:
                # switch_name_event: case-insensitive, SWITCH_EVENT_ prefix optional
                name = word.upper().removeprefix("SWITCH_EVENT_")
                keys += 1
                self.event_names.add(name)
                custom = custom or name == "CUSTOM"
        if not keys:
            return "-ERR no keywords supplied"
        self.events_enabled = True
        return f"+OK event listener enabled {self.event_format}"

    def _nixevent(self, words: list[str]) -> str:
        keys = 0
        custom = False
        for word in words:
            if custom:
                self.subclasses.discard(word)
            elif word.upper() in EVENT_NAMES:
                keys += 1
                if word.upper() == "CUSTOM":
                    custom = True
                elif word.upper() == "ALL":
                    self.event_names.clear()
                else:
                    self.event_names.discard(word.upper())
        if not keys:
            return "-ERR no keywords supplied"
        self.events_enabled = True
        return "+OK events nixed"

    def _filter(self, arg: str) -> str:
        name, sep, value = arg.partition(" ")
        if name.lower() == "delete" and sep:
            name, _, value = value.partition(" ")
            if name.lower() == "all":
                self.filters.clear()
            else:
                self.filters = [
                    (n, v)
                    for n, v in self.filters
                    if n.lower() != name.lower() or (value and v != value)
                ]
            return f"+OK filter deleted. [{name}][{value}]"
        if not sep:
            return "-ERR invalid syntax"
        if name.lower() == "add":
            name, _, value = value.partition(" ")
        self.filters.append((name, value))
        return f"+OK filter added. [{name}]=[{value}]"


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

    def _forget(self, listener: Listener) -> None:
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
        """mod_commands status_function, as recorded in 01 (plural only when not 1)."""
        up = int((time.time() - self.started_at) * 1_000_000)

        def unit(value: int, name: str) -> str:
            return f"{value} {name}{'' if value == 1 else 's'}"

        seconds = up // 1_000_000
        parts = [
            unit(0, "year"),
            unit(seconds // 86400, "day"),
            unit(seconds // 3600 % 24, "hour"),
            unit(seconds // 60 % 60, "minute"),
            unit(seconds % 60, "second"),
            unit(up // 1000 % 1000, "millisecond"),
            unit(up % 1000, "microsecond"),
        ]
        sessions = len(self.channel_rows())
        return (
            f"UP {', '.join(parts)}\n"
            "FreeSWITCH (Version 1.11.1-release  64bit) is ready\n"
            f"{sessions} session(s) since startup\n"
            f"{sessions} session(s) - peak {sessions}, last 5min {sessions} \n"
            "0 session(s) per Sec out of max 30, peak 0, last 5min 0 \n"
            "200 session(s) max\n"
            "min idle cpu 0.00/99.00\n"
            "Current Stack Size/Max 240K/8192K\n"
        )

    def _show(self, arg: str | None) -> str:
        """mod_commands show_function: `channels`/`registrations` (json, delimited, count)."""
        words = (arg or "").split()
        if not words or words[0] not in ("channels", "registrations"):
            return "-USAGE: channels|registrations [count] [as json]\n"
        rows = self.channel_rows() if words[0] == "channels" else self.registration_rows()
        if words[1:2] == ["count"]:
            return f"\n{len(rows)} total.\n"
        if words[1:3] == ["as", "json"]:
            if not rows:
                return '{"row_count": 0}\n'
            return json.dumps(
                {"row_count": len(rows), "rows": rows}, separators=(",", ":"), ensure_ascii=False
            )
        columns = CHANNEL_COLUMNS if words[0] == "channels" else REGISTRATION_COLUMNS
        header = ",".join(columns)
        lines = [",".join(row.get(c, "") for c in columns) for row in rows]
        return "\n".join([header, *lines]) + f"\n\n{len(rows)} total.\n"

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
