"""The agent desktop's websocket: presence, status, offers and the sessions it serves.

While the websocket is open the agent's ``desktop`` presence lease is renewed (see
:mod:`chat.presence`; a ``heartbeat`` frame renews it too), so a closed laptop lets the
lease lapse and the router stops offering work. Offers and transcript entries arrive
through fan-out (the router's events stream), so they reach the agent whichever instance
it is connected to.
"""

from __future__ import annotations

from typing import Any

import redis

from chat import protocol, signals
from chat.connection import Connection
from chat.context import Context
from chat.errors import Unavailable
from chat.fanout import offer_frame, with_preview
from chat.protocol import (
    AgentSeen,
    AgentTyping,
    ClickToCall,
    CloseSession,
    EndChat,
    Heartbeat,
    Hello,
    OfferAnswer,
    OpenSession,
    Ping,
    Reply,
    SetStatus,
    Transfer,
)
from chat.tokens import StaffPrincipal
from chat.ws_common import serve


class AgentLink:
    def __init__(self, c: Context, conn: Connection, who: StaffPrincipal) -> None:
        self.c = c
        self.conn = conn
        self.agent_id = who.account_id
        self.who = who
        self._display_name: str | None = None

    def run(self) -> None:
        serve(self.c, self.conn, protocol.AGENT_FRAMES, self.handle)

    def handle(self, frame: Any) -> None:
        svc = self.c.service
        if isinstance(frame, Ping):
            self.conn.push({"type": "pong"})
        elif isinstance(frame, Hello):
            self.hello()
        elif isinstance(frame, Heartbeat):
            svc.heartbeat(self.agent_id)
            self.conn.push({"type": "heartbeat_ok"})
        elif isinstance(frame, SetStatus):
            svc.set_status(self.agent_id, frame.status, frame.reason)
        elif isinstance(frame, OfferAnswer):
            self.answer(frame)
        elif isinstance(frame, OpenSession):
            self.open(frame.session_id)
        elif isinstance(frame, Reply):
            text = protocol.check_content(
                frame.text, frame.file is not None, self.c.settings.max_text_chars
            )
            self.conn.expect_echo(frame.cid)
            done = svc.agent_post(
                self.agent_id,
                frame.session_id,
                frame.cid,
                text,
                frame.file.sha256 if frame.file else None,
                note=frame.type == "note",
            )
            self.c.metrics.stored(frame.type).inc()
            self.conn.push(protocol.ack(frame.cid, done.entry_id, frame.session_id, done.duplicate))
        elif isinstance(frame, AgentTyping):
            svc.check_staff_access(self.who, frame.session_id)
            name = self.display_name()
            typing = {"type": "typing", "from": "agent", "on": frame.on, "name": name}
            self._signal(frame.session_id, typing, ("customer",))
        elif isinstance(frame, AgentSeen):
            svc.check_staff_access(self.who, frame.session_id)
            self._receipt(frame.session_id, frame.id)
        elif isinstance(frame, Transfer):
            request_id = svc.transfer(self.agent_id, frame.session_id, frame.queue, frame.agent_id)
            self.conn.push(
                {
                    "type": "transferred",
                    "session_id": frame.session_id,
                    "request_id": request_id,
                    "queue": frame.queue or "",
                    "agent_id": frame.agent_id or "",
                }
            )
        elif isinstance(frame, EndChat):
            svc.end_chat(self.agent_id, frame.session_id)
        elif isinstance(frame, CloseSession):
            svc.close(self.agent_id, frame.session_id, frame.disposition)
            # told here too: the fan-out's copy may come after this desktop was
            # unsubscribed from the session (its contact ended first)
            self.conn.push(
                {
                    "type": "session_closed",
                    "session_id": frame.session_id,
                    "disposition": frame.disposition,
                }
            )
        elif isinstance(frame, ClickToCall):
            command_id = svc.click_to_call(self.agent_id, frame.session_id, frame.number)
            self.conn.push(
                {
                    "type": "call_requested",
                    "session_id": frame.session_id,
                    "number": frame.number,
                    "command_id": command_id,
                }
            )

    def answer(self, frame: OfferAnswer) -> None:
        svc = self.c.service
        if frame.type == "accept":
            session_id = svc.accept(self.agent_id, frame.offer_id)
            if session_id:
                self.open(session_id)
        else:
            svc.reject(self.agent_id, frame.offer_id)
            self.conn.push({"type": "offer_gone", "offer_id": frame.offer_id, "reason": "rejected"})

    def hello(self) -> None:
        """Renew presence, then send the agent's state, pending offers and open sessions."""
        svc = self.c.service
        svc.heartbeat(self.agent_id)
        agent = self.c.admin.agent_summary(self.agent_id)
        self._display_name = str(agent["name"])
        offers = [with_preview(self.c, offer_frame(o)) for o in svc.pending_offers(self.agent_id)]
        sessions = svc.agent_sessions(self.agent_id)
        self.conn.push(
            {
                "type": "welcome",
                "role": "agent",
                "agent": agent,
                "offers": offers,
                "sessions": [s.id for s in sessions],
            }
        )
        for s in sessions:
            self.open(s.id)

    def open(self, session_id: str) -> None:
        """Subscribe to the session, then send its whole timeline plus customer history
        (subscribing first means no entry can fall between the two)."""
        self.c.service.check_staff_access(self.who, session_id)
        self.c.hub.subscribe(self.conn, session_id)
        view = self.c.service.session_view(session_id)
        view["receipts"] = signals.receipts(self.c.redis, self.c.keys, session_id)
        self.conn.push({"type": "session", **view})

    def display_name(self) -> str:
        """The name customers may see (the router profile's ``name``; never the login)."""
        if self._display_name is None:
            self._display_name = str(self.c.admin.agent_summary(self.agent_id)["name"])
        return self._display_name

    def _receipt(self, session_id: str, entry_id: str) -> None:
        try:
            if signals.store_receipt(self.c.redis, self.c.keys, session_id, "agent", entry_id):
                self._signal(
                    session_id, {"type": "receipt", "party": "agent", "id": entry_id}, ("customer",)
                )
        except redis.RedisError as e:
            raise Unavailable(f"cannot store the receipt: {e}") from e

    def _signal(self, session_id: str, frame: dict[str, Any], kinds: tuple[str, ...]) -> None:
        try:
            signals.publish(
                self.c.redis,
                self.c.keys,
                session_id,
                frame | {"session_id": session_id},
                kinds,
            )
        except redis.RedisError as e:
            raise Unavailable(f"cannot reach Redis: {e}") from e
