"""One event-socket client connection, as mod_event_socket's listener_t serves it.

Commands are read and answered in the connection's own thread: `auth`, `exit`, `api`
(answered in this thread, events fired meanwhile sent after it), `bgapi` (reply at once with
the Job-UUID, then BACKGROUND_JOB from another thread), `event plain|json ...` with CUSTOM
subclasses, `filter` / `filter delete`, `nixevent`, `noevents`; unknown commands get
`-ERR command not found`. Events queue per connection and are written when the connection
is idle, as FreeSWITCH's read_packet loop does.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import re
import select
import socket
import threading
import uuid
from typing import TYPE_CHECKING

from . import wire
from .events import FsEvent

if TYPE_CHECKING:
    from .server import FakeFreeSwitch

log = logging.getLogger(__name__)

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
# fmt: on

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
            self.server.forget(self)
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
