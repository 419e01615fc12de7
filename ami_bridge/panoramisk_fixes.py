"""panoramisk 1.4, adjusted where the bridge cannot live with it (see the list in
`ami_bridge.connection`; each fix is pinned by a test in tests/asterisk/test_ami_connection.py),
and the event stream a connection hands its listeners."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from panoramisk import manager as pmanager
from panoramisk.actions import Action, Command
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.message import Message

from . import events as ev
from .errors import AmiTimeout
from .wire import AmiStreamParser, header, parse_headers

if TYPE_CHECKING:
    from .connection import AmiConnection


class _Action(Action):
    """panoramisk's Action, except a list action answered `Response: Error` resolves
    (panoramisk waits for list items that never come, e.g. PJSIPShowContacts with no
    contacts)."""

    def add_message(self, message: Message) -> bool | None:
        if self.as_list and not self.responses and message.get("Response") == "Error":
            self.responses.append(message)
            if not self.future.done():
                self.future.set_result([message])
            return True
        return super().add_message(message)


class _Protocol(AMIProtocol):
    """panoramisk's protocol with an incremental decoder (split UTF-8 survives), and the
    actions of one event-loop tick sent in one write (a ring's Setvars and Redirect,
    several calls' actions: one system call instead of one each)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._parser = AmiStreamParser()
        self._outgoing: list[bytes] = []

    def send(self, data: Any, as_list: bool = False) -> asyncio.Future[Any]:
        """panoramisk's `send`, except the bytes go out at the end of this loop tick."""
        if not isinstance(data, Action):
            data = (Command if "Command" in data else Action)(data, as_list=as_list)
        data.as_list = as_list
        self.responses[data.id] = data
        if data.action_id:
            self.responses[data.action_id] = data
        if not self._outgoing:
            asyncio.get_running_loop().call_soon(self._write_out)
        self._outgoing.append(str(data).encode(getattr(self, "encoding", "ascii")))
        future: asyncio.Future[Any] = data.future
        return future

    def _write_out(self) -> None:
        out, self._outgoing = self._outgoing, []
        if out and not self.closed:  # closed: the link's loss fails the actions
            self.transport.write(b"".join(out))

    def data_received(self, data: bytes) -> None:
        for block in self._parser.blocks(data):
            # Fast path: an event no pending action waits for goes straight to the owner
            # as a plain dict (panoramisk's Message lower-cases keys on every access).
            # Shutdown and events carrying a pending action's ActionID (list items, an
            # early OriginateResponse) take panoramisk's path.
            if block.startswith("Event: ") and not block.startswith("Event: Shutdown"):
                action_id = header(block, "ActionID")
                if not action_id or action_id not in self.responses:
                    self.factory._owner._on_headers(self.factory, parse_headers(block))
                    continue
            message = Message.from_line(block)
            if message is not None:
                self.handle_message(message)
        if getattr(self, "version", None) is None and self._parser.version is not None:
            self.version = self._parser.version


class _Manager(pmanager.Manager):
    """panoramisk's Manager with its own pinger, reconnect and re-send switched off."""

    def __init__(self, owner: AmiConnection, **config: Any) -> None:
        super().__init__(**config)
        self._owner = owner

    def ping(self) -> None:  # the watchdog in AmiConnection pings and checks the Pong
        pass

    async def send_awaiting_actions(self, *_: Any) -> None:
        self.awaiting_actions.clear()  # never re-send: callers were already failed

    def connection_lost(self, exc: Any) -> None:
        self._connected = False
        self.awaiting_actions.clear()
        if self._owner._manager is self:  # a late callback of an older link is ignored
            self._owner._link_lost(exc)


class EventStream:
    """An async iterator over events (AmiEvent, LinkUp, LinkDown) from one connection."""

    def __init__(self, connection: AmiConnection) -> None:
        self._connection = connection
        self._queue: asyncio.Queue[ev.Event] = asyncio.Queue()

    def _put(self, event: ev.Event) -> None:
        self._queue.put_nowait(event)

    def __aiter__(self) -> AsyncIterator[ev.Event]:
        return self

    async def __anext__(self) -> ev.Event:
        return await self._queue.get()

    async def get(self, timeout: float | None = None) -> ev.Event:
        """The next event; AmiTimeout if none comes within `timeout` seconds."""
        try:
            return await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            raise AmiTimeout(f"no AMI event within {timeout} s") from None

    def pending(self) -> int:
        return self._queue.qsize()

    def close(self) -> None:
        self._connection._streams.discard(self)
