"""One inbound event-socket connection: greenswitch 0.0.19's InboundESL with its reader replaced.

Kept from greenswitch: `connect()` (TCP connect, the reader and dispatcher greenlets, waiting
for auth/request), the command FIFO that pairs replies with commands, the event queue and
`process_events` with its `register_handle` registry.

Replaced, because 0.0.19 cannot be fixed from outside (each is pinned by a test in
tests/esl/test_esl_greenswitch_workarounds.py):
- the reader (`receive_events`/`handle_event`/`ESLEvent`): ours is `esl_bridge.wire`, which
  splits lines before URL-decoding, keeps a BACKGROUND_JOB body out of the Content-Length
  value, reads `text/event-json`, and fails cleanly on a conflicting duplicated
  Content-Length instead of dying silently;
- `send`: a timeout, `sendall` instead of a single `send`, and no line breaks inside commands;
- waiters are released: when the connection ends, every command still waiting gets
  EslConnectionLost instead of blocking forever;
- `authenticate`/`stop`: typed errors, and no unbounded wait for the `exit` reply.

A connection is used once. After it ends, EslClient makes a new one (greenswitch keeps state
that cannot be reset, so an InboundESL object must never be reconnected).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import gevent
import gevent.event
from greenswitch.esl import InboundESL, NotConnectedError

from esl_bridge.errors import (
    EslAuthFailed,
    EslConnectionLost,
    EslError,
    EslProtocolError,
    EslTimeout,
    EslUnavailable,
)
from esl_bridge.events import EslEvent, event_from_raw, subclass_of
from esl_bridge.wire import (
    Frame,
    FrameReader,
    RawEvent,
    encode_command,
    parse_json_event,
    parse_plain_event,
)

log = logging.getLogger(__name__)

EventCallback = Callable[[EslEvent], None]


class _Queued:
    """What goes on greenswitch's event queue: the `headers` its dispatcher looks at, and ours."""

    __slots__ = ("event", "headers")

    def __init__(self, headers: dict[str, str], event: EslEvent | None) -> None:
        self.headers = headers
        self.event = event


class _Unwaited:
    """Stands for a command whose reply nobody waits for (`EslConnection.post`): the reply
    is taken off the connection in its turn, and a refusal logged."""

    __slots__ = ("command",)

    def __init__(self, command: str) -> None:
        self.command = command

    def set(self, reply: Frame) -> None:
        text = reply.get("Reply-Text") or ""
        if not text.startswith("+OK"):
            log.warning("FreeSWITCH refused %r: %s", self.command, text or reply.content_type)

    def ready(self) -> bool:
        return True  # nobody to tell when the connection ends


class EslConnection(InboundESL):
    """An authenticated connection to FreeSWITCH's event socket, used once.

    `connect()` raises EslUnavailable (cannot reach), EslAuthFailed or EslTimeout;
    `send()` returns the reply `Frame` or raises EslUnavailable/EslConnectionLost/EslTimeout.
    `closed` is set when the connection has ended, and `close_reason` says why.
    """

    def __init__(
        self,
        host: str,
        port: int,
        password: str,
        *,
        connect_timeout: float = 5.0,
        command_timeout: float = 5.0,
        inline_events: bool = False,
        ignore_raw: Callable[[bytes], bool] | None = None,
    ) -> None:
        super().__init__(host, port, password, timeout=connect_timeout)
        self.ignore_raw = ignore_raw
        """Says from its raw JSON text that an event is of no use: it is not decoded."""
        self.command_timeout = command_timeout
        self.inline_events = inline_events
        """Hand events to the subscriber in the reader greenlet (see `EslSettings`)."""
        self._inline: tuple[frozenset[str], EventCallback] | None = None
        self.closed = gevent.event.Event()
        self.close_reason: EslError | None = None
        self.disconnect_notice: str | None = None
        self._abort_reason: EslError | None = None
        self._commands_sent: list[gevent.event.AsyncResult | _Unwaited] = []
        self.register_handle("DISCONNECT", self._drained)

    @property
    def where(self) -> str:
        return f"FreeSWITCH at {self.host}:{self.port}"

    # -- connecting ------------------------------------------------------------------------

    def connect(self) -> None:
        """TCP connect, wait for auth/request, authenticate; all within the connect timeout."""
        try:
            with gevent.Timeout(
                self.timeout,
                EslTimeout(f"{self.where} did not accept the login within {self.timeout} s"),
            ):
                super().connect()
        except NotConnectedError as e:
            self._abort(EslUnavailable(f"{self.where} closed the connection before login: {e}"))
            raise self.close_reason or EslUnavailable(str(e)) from None
        except OSError as e:
            self._abort(EslUnavailable(f"cannot connect to {self.where}: {e}"))
            raise EslUnavailable(f"cannot connect to {self.where}: {e}") from None
        except EslError as e:
            self._abort(e)
            raise

    def authenticate(self) -> None:
        reply = self.send(f"auth {self.password}").get("Reply-Text") or ""
        if reply != "+OK accepted":
            raise EslAuthFailed(
                f"{self.where} refused the event-socket password ({reply}): "
                "check the ESL password of this PBX in the admin config"
            )

    def subscribe(
        self, names: Iterable[str], subclasses: Iterable[str], callback: EventCallback
    ) -> None:
        """Route events named `names`, and CUSTOM events of `subclasses`, to `callback`.

        greenswitch looks a CUSTOM event's handlers up under its Event-Subclass, so a handler
        registered as 'CUSTOM' never runs: register each subclass instead.
        """

        def deliver(item: _Queued) -> None:
            if item.event is not None:
                callback(item.event)

        wanted = frozenset(name for name in (*names, *subclasses) if name != "CUSTOM")
        for name in wanted:
            self.register_handle(name, deliver)
        if self.inline_events:
            self._inline = (wanted, callback)

    # -- reading (replaces greenswitch's receive_events / handle_event) ---------------------

    def receive_events(self) -> None:
        reader = FrameReader()
        reason: EslError = EslConnectionLost(f"{self.where} closed the connection")
        sock = self.sock
        # After a read that emptied the socket at a message's end, wait for the next bytes
        # first: gevent's recv would try once more, fail with EAGAIN (a system call and an
        # exception) and then wait the same way (the socket's own read watcher, so a close
        # still wakes us). Within a message (FreeSWITCH writes an event's head and body
        # apart) the rest is usually there already: read at once.
        wait, readable = getattr(sock, "_wait", None), getattr(sock, "_read_event", None)
        drained = False
        try:
            while True:
                try:
                    if drained and wait is not None:
                        wait(readable)
                    data = sock.recv(65536)
                    drained = len(data) < 65536
                except OSError as e:
                    reason = EslConnectionLost(f"connection to {self.where} failed: {e}")
                    break
                if not data:
                    notice = (self.disconnect_notice or "").split("\n")[0]
                    reason = EslConnectionLost(
                        f"{self.where} closed the connection" + (f" ({notice})" if notice else "")
                    )
                    break
                for frame in reader.feed(data):
                    self._handle_frame(frame)
                drained = drained and not reader.pending_bytes
        except EslProtocolError as e:
            reason = EslProtocolError(f"{self.where} sent something that is not ESL: {e}")
            log.error("%s", reason)
        finally:
            self._shutdown(self._abort_reason or reason)

    def _handle_frame(self, frame: Frame) -> None:
        kind = frame.content_type
        if kind == "auth/request":
            self._auth_request_event.set()
        elif kind in ("command/reply", "api/response"):
            if not self._commands_sent:
                raise EslProtocolError(f"{kind} arrived while no command was waiting for one")
            self._commands_sent.pop(0).set(frame)
        elif kind == "text/event-plain":
            self._queue_event(frame, parse_plain_event)
        elif kind == "text/event-json":
            self._queue_event(frame, parse_json_event)
        elif kind == "text/disconnect-notice":
            self.disconnect_notice = frame.text()
        elif kind == "text/rude-rejection":
            self.disconnect_notice = f"rejected: {frame.text().strip()}"
        elif kind != "log/data":
            log.warning("%s: ignoring an ESL message of type %r", self.where, kind)

    def _queue_event(self, frame: Frame, parse: Callable[[bytes], RawEvent]) -> None:
        ignore = self.ignore_raw
        if ignore is not None and parse is parse_json_event and ignore(frame.body):
            return
        try:
            event = event_from_raw(parse(frame.body))
        except EslProtocolError as e:
            # The message's own framing was fine, so the stream is still in step: drop only it.
            log.error("%s: dropping a malformed event (%s): %r", self.where, e, frame.body[:300])
            return
        subclass = subclass_of(event)
        inline = self._inline
        if inline is not None:
            wanted, callback = inline
            if (subclass if event.name == "CUSTOM" else event.name) in wanted:
                try:
                    callback(event)
                except Exception:  # as greenswitch's dispatcher: the reading goes on
                    log.exception("%s: handling %s failed", self.where, event.name)
            return
        headers = {"Event-Name": event.name, "Content-Type": frame.content_type}
        if subclass:
            headers["Event-Subclass"] = subclass
        self._esl_event_queue.put(_Queued(headers, event))

    # -- ending ------------------------------------------------------------------------------

    def _shutdown(self, reason: EslError) -> None:
        """The connection is over: release every waiter, wake connect(), let events drain."""
        if self.close_reason is not None:
            return
        self.close_reason = reason
        self.connected = False
        waiting = self._commands_sent
        self._commands_sent = []
        for result in waiting:
            if not result.ready():
                assert isinstance(result, gevent.event.AsyncResult)
                result.set_exception(
                    EslConnectionLost(f"{reason}; the command's outcome is unknown")
                )
        with contextlib.suppress(OSError, AttributeError):
            self.sock.close()
        with contextlib.suppress(OSError, AttributeError):
            self.sock_file.close()
        self._auth_request_event.set()
        # greenswitch dispatches a disconnect notice to 'DISCONNECT' handlers after the events
        # queued before it, so events received before the drop are still delivered.
        self._esl_event_queue.put(_Queued({"Content-Type": "text/disconnect-notice"}, None))
        self.closed.set()

    def _drained(self, item: Any) -> None:
        self._run = False

    def _abort(self, reason: EslError) -> None:
        """End the connection now, for `reason` (the reader finishes the shutdown)."""
        if self._abort_reason is None:
            self._abort_reason = reason
        sock = getattr(self, "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(2)
        if self._receive_events_greenlet is None or self._receive_events_greenlet.dead:
            self._shutdown(self._abort_reason)

    def close(self, timeout: float = 2.0) -> None:
        """Say `exit` if still connected (bounded by `timeout`), then close the connection."""
        if self.connected:
            with contextlib.suppress(EslError):
                self.send("exit", timeout=timeout)
        self._abort(EslUnavailable(f"connection to {self.where} closed by implus"))
        greenlets = [g for g in (self._receive_events_greenlet, self._process_events_greenlet) if g]
        gevent.joinall(greenlets, timeout=timeout)
        gevent.killall([g for g in greenlets if not g.dead], block=False)

    # -- commands (replaces greenswitch's send) --------------------------------------------------

    def send(
        self, data: str, timeout: float | None = None, headers: dict[str, str] | None = None
    ) -> Frame:
        """Send one command and return FreeSWITCH's reply (command/reply or api/response).

        A command that gets no reply within `timeout` raises EslTimeout and resets the
        connection: the reply, if it ever comes, would otherwise be taken for the next one's.
        """
        return self.send_many([(data, headers)], timeout)[0]

    def send_many(
        self,
        commands: Sequence[tuple[str, dict[str, str] | None]],
        timeout: float | None = None,
    ) -> list[Frame]:
        """Send (command, headers) pairs in ONE write and return their replies in order
        (FreeSWITCH reads a connection's commands one after the other and answers each in
        turn). `timeout` bounds the whole exchange; a timeout resets the connection as in
        `send`."""
        if not self.connected:
            raise EslUnavailable(f"not connected to {self.where}")
        raw = b"".join(encode_command(data, headers) for data, headers in commands)
        verb = commands[0][0].split(" ", 2)[:2]
        limit = timeout if timeout is not None else self.command_timeout
        results = [gevent.event.AsyncResult() for _ in commands]
        self._commands_sent.extend(results)
        timer = gevent.Timeout.start_new(limit)
        try:
            self._write(raw)
            return [result.get() for result in results]
        except gevent.Timeout as e:
            if e is not timer:
                raise
            timed_out = EslTimeout(
                f"{self.where} did not answer {' '.join(verb)!r} within {limit} s; "
                "the connection is reset"
            )
            self._abort(timed_out)
            raise timed_out from None
        except OSError as e:
            lost = EslConnectionLost(f"sending to {self.where} failed: {e}")
            self._abort(lost)
            raise lost from None
        finally:
            timer.close()

    def post(self, command: str, headers: dict[str, str] | None = None) -> None:
        """Send one command without waiting for its reply (a `bgapi` whose acceptance
        nobody acts on): the reply is read in its turn, a refusal is logged. Raises
        EslUnavailable/EslConnectionLost as `send` does when it cannot be sent."""
        if not self.connected:
            raise EslUnavailable(f"not connected to {self.where}")
        raw = encode_command(command, headers)
        self._commands_sent.append(_Unwaited(" ".join(command.split(" ", 2)[:2])))
        try:
            self._write(raw)
        except OSError as e:
            lost = EslConnectionLost(f"sending to {self.where} failed: {e}")
            self._abort(lost)
            raise lost from None

    def _write(self, raw: bytes) -> None:
        """All of `raw`, in one `send` as a rule (gevent's `sendall` asks the socket for
        its buffer size first: one more system call per command)."""
        sent = self.sock.send(raw)
        if sent < len(raw):
            self.sock.sendall(memoryview(raw)[sent:])
