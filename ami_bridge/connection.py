"""The AMI link: a thin wrapper around panoramisk 1.4 that fixes what the bridge cannot
live with (see /work/shared/PROTOCOLS.md). Each fix is pinned by a regression test in
tests/asterisk/test_ami_connection.py:

- `Originate` always goes out with `Async: true` (without it panoramisk crashes or
  hangs); the call returns on Asterisk's "queued" reply, and the `OriginateResponse`
  event arrives in the event stream, tied to the action by `action_id`.
- Every action is awaited with a deadline (`AmiTimeout`), single-response actions are
  sent with `as_list=False` so panoramisk's guessing (which never resolves `QueueAdd`)
  is off, and list actions are collected into lists.
- Our own ping watchdog: a Ping that gets no Pong within `ping_timeout` means a
  half-open TCP link, which is aborted and reconnected (panoramisk pings blindly).
- The running loop is passed to panoramisk; the stream is decoded incrementally
  (`wire.AmiStreamParser`), so UTF-8 split across reads survives.
- Reconnect with exponential backoff instead of panoramisk's fixed 2 s; callers waiting
  on an action when the link drops get `AmiUnavailable` at once (panoramisk would re-send
  the action after reconnecting - a duplicated Originate); after each reconnect: login,
  wait for FullyBooted, re-apply event filters, then `LinkUp` in the event stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from panoramisk.message import Message

from . import events as ev
from .errors import AmiActionFailed, AmiError, AmiLoginFailed, AmiTimeout, AmiUnavailable
from .filters import EventFilter, filter_action
from .panoramisk_fixes import EventStream, _Action, _Manager, _Protocol

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AmiSettings:
    """Where and how to reach AMI. Durations in seconds."""

    host: str = "127.0.0.1"
    port: int = 5038
    username: str = ""
    secret: str = ""
    #: AMI filters applied after every login: a regex (`Filter` alone, e.g.
    #: "!Event: VarSet") or an `EventFilter` (`MatchCriteria`, cheaper for Asterisk).
    filters: tuple[str | EventFilter, ...] = ()
    #: Event classes this session wants (AMI `Events` action), e.g. "system,call,user";
    #: empty = every class the user may read. Classes left out are not even filtered
    #: for this session (the `dialplan` class alone is a dozen events per call).
    event_mask: str = ""
    action_timeout: float = 10.0
    connect_timeout: float = 5.0
    #: How long to wait for FullyBooted after login (Asterisk may still be starting).
    boot_timeout: float = 60.0
    ping_interval: float = 5.0
    ping_timeout: float = 3.0
    backoff_initial: float = 0.2
    backoff_max: float = 1.5
    """Reconnect at most this long after Asterisk answers again (a longer, grown delay
    would make every restart an outage of its own)."""


@dataclass(frozen=True)
class OriginateQueued:
    """Asterisk accepted an async Originate; its result comes as `OriginateResponse`."""

    action_id: str
    channel_id: str


_action_ids = itertools.count(1)


class AmiConnection:
    """One logical AMI connection that keeps itself alive.

    >>> conn = AmiConnection(AmiSettings(username="implus", secret="..."))
    >>> stream = conn.events()          # subscribe before start to miss nothing
    >>> await conn.start()              # returns once logged in and FullyBooted
    >>> await conn.send_action({"Action": "CoreStatus"})
    """

    def __init__(self, settings: AmiSettings) -> None:
        self.settings = settings
        self.generation = 0
        self._streams: set[EventStream] = set()
        self._manager: _Manager | None = None
        self._protocol: _Protocol | None = None
        self._ready = asyncio.Event()
        self._login_refused = asyncio.Event()
        self._lost: asyncio.Future[str] | None = None
        self._booted: asyncio.Future[None] | None = None
        self._handshaking = False
        self._held: list[ev.AmiEvent] = []
        self._inflight: set[asyncio.Future[Any]] = set()
        self._supervisor: asyncio.Task[None] | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._closing = False
        self._first_error: BaseException | None = None
        self.last_down_reason = ""

    # public API --------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        """True while logged in, FullyBooted and filtered."""
        return self._ready.is_set()

    def events(self) -> EventStream:
        """A new subscription to every event from now on (in arrival order)."""
        stream = EventStream(self)
        self._streams.add(stream)
        return stream

    async def start(self, timeout: float | None = None) -> None:
        """Start connecting (and reconnecting forever); wait until the first LinkUp.

        Raises AmiLoginFailed at once on bad credentials, AmiUnavailable if not up
        within `timeout` (default: connect_timeout + boot_timeout). The connection keeps
        retrying in the background either way until `close()`.
        """
        if self._supervisor is None:
            self._supervisor = asyncio.get_running_loop().create_task(self._supervise())
        await self.wait_connected(timeout)

    async def wait_connected(self, timeout: float | None = None) -> None:
        """Wait for the link to be up (AmiUnavailable after `timeout`)."""
        limit = timeout or self.settings.connect_timeout + self.settings.boot_timeout
        ready = asyncio.ensure_future(self._ready.wait())
        refused = asyncio.ensure_future(self._login_refused.wait())
        await asyncio.wait({ready, refused}, timeout=limit, return_when=asyncio.FIRST_COMPLETED)
        ready.cancel()
        refused.cancel()
        if not self._ready.is_set():
            if isinstance(self._first_error, AmiLoginFailed):
                raise self._first_error
            raise AmiUnavailable(
                f"AMI at {self.settings.host}:{self.settings.port} not up within {limit:.0f} s"
                f" (last problem: {self.last_down_reason or 'none'})"
            )

    async def close(self) -> None:
        """Log off, stop reconnecting, fail whatever still waits."""
        self._closing = True
        for task in (self._watchdog, self._supervisor):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self._protocol is not None and not self._protocol.closed:
            with contextlib.suppress(Exception):
                self._protocol.transport.close()
        self._fail_inflight("the AMI connection was closed")
        self._ready.clear()

    async def send_action(self, action: Mapping[str, Any], timeout: float | None = None) -> Message:
        """Send one action and return its response (AmiActionFailed on `Response: Error`).

        `Originate` always gets `Async: true`. Use `list_action` for actions whose reply
        is an event list.
        """
        headers = dict(action)
        if str(headers.get("Action", "")).lower() == "originate":
            headers["Async"] = "true"
        response = await self._send(headers, as_list=False, timeout=timeout)
        if response.get("Response") == "Error":
            raise AmiActionFailed(str(headers.get("Action")), str(response.get("Message", "")))
        return response

    async def list_action(
        self, action: Mapping[str, Any], timeout: float | None = None
    ) -> list[ev.AmiEvent]:
        """Send a list action (CoreShowChannels, DeviceStateList, PJSIPShowContacts...)
        and return its items as dataclasses. An `Error` reply with "No ... found"
        (PJSIPShowContacts with nothing to show) is an empty list."""
        replies = await self._send(dict(action), as_list=True, timeout=timeout)
        if not isinstance(replies, list):
            replies = [replies]
        head = replies[0]
        if head.get("Response") == "Error":
            if "found" in str(head.get("Message", "")).lower():
                return []
            raise AmiActionFailed(str(action.get("Action")), str(head.get("Message", "")))
        return [
            ev.from_message(m)
            for m in replies[1:]
            if "Event" in m and m.get("EventList") != "Complete"
        ]

    async def originate(
        self,
        channel: str,
        *,
        context: str | None = None,
        exten: str | None = None,
        priority: int = 1,
        application: str | None = None,
        data: str | None = None,
        channel_id: str | None = None,
        other_channel_id: str | None = None,
        caller_id: str | None = None,
        variables: Mapping[str, str] | None = None,
        ring_timeout: float = 30.0,
        timeout: float | None = None,
        action_id: str | None = None,
    ) -> OriginateQueued:
        """Originate asynchronously (always `Async: true`); returns when queued.

        `channel_id` sets the new channel's Uniqueid (default: generated), so events
        about this leg can be recognised before `OriginateResponse` arrives; `action_id`
        (default: generated) lets a caller know the response's ActionID before sending
        (a fast failure can come back before this call returns).
        """
        if (context is None) == (application is None):
            raise ValueError("originate needs either context/exten or application")
        action_id = action_id or f"implus-originate-{next(_action_ids)}"
        channel_id = channel_id or f"implus-{id(self):x}-{next(_action_ids)}"
        headers: dict[str, Any] = {
            "Action": "Originate",
            "ActionID": action_id,
            "Channel": channel,
            "Async": "true",
            "ChannelId": channel_id,
            "Timeout": str(int(ring_timeout * 1000)),
        }
        if context is not None:
            headers.update(Context=context, Exten=exten or "s", Priority=str(priority))
        else:
            headers.update(Application=application, Data=data or "")
        if other_channel_id:
            headers["OtherChannelId"] = other_channel_id
        if caller_id:
            headers["CallerID"] = caller_id
        if variables:
            headers["Variable"] = [f"{k}={v}" for k, v in variables.items()]
        reply = await self._send(headers, as_list=False, timeout=timeout)
        if reply.get("Event") == "OriginateResponse":
            # Asterisk can answer a fast failure before the "queued" reply: the event
            # then resolved our action; hand it on to the streams so it is not lost.
            self._deliver(ev.from_message(reply))
        elif reply.get("Response") == "Error":
            raise AmiActionFailed("Originate", str(reply.get("Message", "")))
        return OriginateQueued(action_id=action_id, channel_id=channel_id)

    async def ping(self, timeout: float | None = None) -> None:
        """One Ping that must get its Pong within `timeout` (default ping_timeout)."""
        await self._send(
            {"Action": "Ping"}, as_list=False, timeout=timeout or self.settings.ping_timeout
        )

    # sending -----------------------------------------------------------------------
    async def _send(self, headers: dict[str, Any], as_list: bool, timeout: float | None) -> Any:
        protocol = self._protocol
        if not self.connected or protocol is None or protocol.closed:
            raise AmiUnavailable(
                f"AMI link to {self.settings.host}:{self.settings.port} is down "
                f"({self.last_down_reason or 'not connected yet'}); retrying in background"
            )
        return await self._send_raw(headers, as_list, timeout)

    async def _send_raw(self, headers: dict[str, Any], as_list: bool, timeout: float | None) -> Any:
        protocol = self._protocol
        if protocol is None or protocol.closed:
            raise AmiUnavailable("AMI link is down")
        action = _Action(headers, as_list=as_list)
        future: asyncio.Future[Any] = protocol.send(action, as_list=as_list)
        self._inflight.add(future)
        limit = timeout or self.settings.action_timeout
        try:
            return await asyncio.wait_for(asyncio.shield(future), limit)
        except TimeoutError:
            protocol.responses.pop(action.id, None)
            raise AmiTimeout(
                f"AMI action {headers.get('Action')} got no complete reply within {limit} s"
            ) from None
        finally:
            self._inflight.discard(future)

    def _fail_inflight(self, reason: str) -> None:
        for future in list(self._inflight):
            if not future.done():
                future.set_exception(AmiUnavailable(f"AMI link dropped: {reason}"))
        self._inflight.clear()

    # events ------------------------------------------------------------------------
    def _on_event(self, manager: Any, message: Mapping[str, Any]) -> None:
        self._on_headers(manager, message)

    def _on_headers(self, manager: Any, message: Mapping[str, Any]) -> None:
        if manager is not self._manager:
            return
        name = message.get("Event", "")
        if name == "FullyBooted" and self._booted is not None and not self._booted.done():
            self._booted.set_result(None)
        event = ev.from_message(message)
        if self._handshaking:
            self._held.append(event)  # delivered after LinkUp, in order
        else:
            self._deliver(event)

    def _deliver(self, event: ev.Event) -> None:
        for stream in list(self._streams):
            stream._put(event)

    # link lifecycle ----------------------------------------------------------------
    def _link_lost(self, exc: Any) -> None:
        if isinstance(exc, Message):
            reason = f"Asterisk sent {exc.get('Event', 'a message')}"
        elif exc is None:
            reason = "connection closed"
        else:
            reason = f"{type(exc).__name__}: {exc}"
        self._ready.clear()
        self._fail_inflight(reason)
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(reason)

    async def _supervise(self) -> None:
        backoff = self.settings.backoff_initial
        while not self._closing:
            try:
                await self._connect_once()
            except asyncio.CancelledError:
                raise
            except AmiError as e:
                self._note_failure(e)
            except (OSError, TimeoutError) as e:
                self._note_failure(AmiUnavailable(f"cannot connect: {e}"))
            else:
                backoff = self.settings.backoff_initial
                assert self._lost is not None
                reason = await self._lost
                self._stop_watchdog()
                self.last_down_reason = reason
                log.warning("AMI link down: %s", reason)
                self._deliver(ev.LinkDown(self.generation, reason))
            if self._closing:
                return
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.settings.backoff_max)

    def _note_failure(self, error: AmiError) -> None:
        self.last_down_reason = str(error)
        if self._first_error is None:
            self._first_error = error
        if isinstance(error, AmiLoginFailed):
            self._login_refused.set()
        log.warning("AMI connect failed: %s", error)
        self._handshaking = False
        self._held.clear()
        if self._protocol is not None and not self._protocol.closed:
            self._protocol.transport.abort()

    async def _connect_once(self) -> None:
        loop = asyncio.get_running_loop()
        s = self.settings
        manager = _Manager(self, host=s.host, port=s.port, loop=loop, ping_delay=3600)
        manager.register_event("*", self._on_event)
        self._lost = loop.create_future()
        self._booted = loop.create_future()
        self._handshaking = True
        self._held.clear()
        transport, protocol = await asyncio.wait_for(
            loop.create_connection(_Protocol, s.host, s.port), s.connect_timeout
        )
        done: asyncio.Future[Any] = loop.create_future()
        done.set_result((transport, protocol))
        manager.connection_made(done)
        self._manager, self._protocol = manager, protocol
        login = await self._send_raw(
            {"Action": "Login", "Username": s.username, "Secret": s.secret},
            as_list=False,
            timeout=s.connect_timeout,
        )
        if login.get("Response") != "Success":
            raise AmiLoginFailed(
                f"AMI login as {s.username!r} at {s.host}:{s.port} rejected: "
                f"{login.get('Message', '')}; check the user and secret in manager.conf"
            )
        try:
            await asyncio.wait_for(asyncio.shield(self._booted), s.boot_timeout)
        except TimeoutError:
            raise AmiUnavailable(
                f"Asterisk did not report FullyBooted in {s.boot_timeout} s"
            ) from None
        for expression in s.filters:
            await self._send_raw(filter_action(expression), as_list=False, timeout=s.action_timeout)
        if s.event_mask:
            await self._send_raw(
                {"Action": "Events", "EventMask": s.event_mask},
                as_list=False,
                timeout=s.action_timeout,
            )
        self.generation += 1
        self._first_error = None
        self._handshaking = False
        self._deliver(ev.LinkUp(self.generation))
        held, self._held = self._held, []
        for event in held:
            self._deliver(event)
        self._ready.set()
        self._watchdog = loop.create_task(self._watch())
        log.info("AMI link up (generation %d)", self.generation)

    async def _watch(self) -> None:
        """Ping every ping_interval; no Pong within ping_timeout -> abort the link."""
        while True:
            await asyncio.sleep(self.settings.ping_interval)
            protocol = self._protocol
            try:
                await self._send_raw({"Action": "Ping"}, False, self.settings.ping_timeout)
            except AmiTimeout:
                log.warning("AMI ping got no Pong: half-open link, reconnecting")
                if protocol is not None:
                    protocol.transport.abort()
                    # abort() reports connection_lost asynchronously; report the reason now
                    self._link_lost(TimeoutError("ping got no Pong (half-open TCP?)"))
                return
            except AmiUnavailable:
                return

    def _stop_watchdog(self) -> None:
        if self._watchdog is not None and self._watchdog is not asyncio.current_task():
            self._watchdog.cancel()
        self._watchdog = None
