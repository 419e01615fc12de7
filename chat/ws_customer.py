"""The customer's websocket: one user id, one service, one session.

Resume protocol: the client sends ``hello`` with the last transcript entry id it holds;
we subscribe it to live entries first and then replay everything after that id, so nothing
falls in between (the client drops entries it already has by id). Every message carries a
client message id (``cid``); the ``ack`` names the transcript entry it became, and a
repeated cid is acknowledged again without being stored twice. The client resends
unacknowledged messages after reconnecting, once the replay is done.
"""

from __future__ import annotations

import logging
from typing import Any

import redis

from chat import protocol, signals
from chat.connection import Connection
from chat.context import Context
from chat.errors import BadInput, Unavailable
from chat.protocol import (
    CallMe,
    CustomerHello,
    CustomerMessage,
    CustomerSeen,
    CustomerTyping,
    Hello,
    Ping,
)
from chat.tokens import CustomerPrincipal
from chat.ws_common import serve

log = logging.getLogger(__name__)


class CustomerLink:
    def __init__(self, c: Context, conn: Connection, who: CustomerPrincipal, service: str):
        self.c = c
        self.conn = conn
        self.who = who
        self.service = service
        self.session_id: str | None = None
        self.greeted = False
        self.live_session: tuple[str, int] | None = None
        """(session id, chat epoch) seen with a live chat request (see Hub.chat_epoch)."""
        self.visit: dict[str, str] | None = None
        self._visit_kept: set[str] = set()

    def run(self) -> None:
        serve(self.c, self.conn, protocol.CUSTOMER_FRAMES, self.handle)

    def handle(self, frame: Any) -> None:
        if isinstance(frame, Ping):
            self.conn.push({"type": "pong"})
            return
        if isinstance(frame, Hello):
            if isinstance(frame, CustomerHello) and frame.visit is not None:
                self.visit = frame.visit.model_dump()
            self.hello(frame.after)
            return
        if not self.greeted:
            raise BadInput("send a hello frame first", code="hello_first")
        if isinstance(frame, CustomerMessage):
            self.message(frame)
        elif isinstance(frame, CustomerTyping):
            if self.session_id:
                self._signal({"type": "typing", "from": "customer", "on": frame.on}, ("agent",))
        elif isinstance(frame, CustomerSeen):
            self.seen(frame.id)
        elif isinstance(frame, CallMe):
            self.call_me(frame)

    def hello(self, after: str | None) -> None:
        """Subscribe to the open session (if any), then replay everything after ``after``."""
        svc = self.c.service
        session = svc.open_session(self.who.user_id, self.service)
        self.greeted = True
        if session is None:
            self.conn.push(_welcome(None, self.who, self.service, {}))
            return
        self._attach(session.id)
        entries = svc.replay(session.id, after or "0-0", for_customer_view=True)
        self.conn.push(
            _welcome(
                session,
                self.who,
                self.service,
                signals.receipts(self.c.redis, self.c.keys, session.id),
            )
        )
        for entry in entries:
            self.conn.push(protocol.entry(session.id, entry))
        self.conn.push(
            {
                "type": "replay_done",
                "session_id": session.id,
                "last": entries[-1]["id"] if entries else after,
            }
        )

    def message(self, frame: CustomerMessage) -> None:
        text = protocol.check_content(
            frame.text, frame.file is not None, self.c.settings.max_text_chars
        )
        self.conn.expect_echo(frame.cid)
        live = self.live_session
        # read before asking the router, so an ending that races with the check is not missed
        epoch_before = self.c.hub.chat_epoch(self.session_id) if self.session_id else 0
        if live is not None and self.c.hub.chat_epoch(live[0]) != live[1]:
            live = None  # a chat request of the session ended: ask the router again
        session_id, done = self.c.service.customer_post(
            self.who.user_id,
            self.service,
            frame.cid,
            text,
            frame.file.sha256 if frame.file else None,
            live_session=live[0] if live else None,
        )
        known = session_id == self.session_id
        self._attach(session_id)
        if live is None or live[0] != session_id:
            epoch = epoch_before if known else self.c.hub.chat_epoch(session_id)
            self.live_session = (session_id, epoch)
        self.c.metrics.stored("message").inc()
        self.conn.push(protocol.ack(frame.cid, done.entry_id, session_id, done.duplicate))
        self._keep_visit(session_id)

    def call_me(self, frame: CallMe) -> None:
        self.conn.expect_echo(frame.cid)
        session_id, done = self.c.service.call_me(
            self.who.user_id, self.service, frame.cid, frame.number
        )
        self._attach(session_id)
        self.c.metrics.stored("callback").inc()
        self.conn.push(protocol.ack(frame.cid, done.entry_id, session_id, done.duplicate))
        self._keep_visit(session_id)

    def _keep_visit(self, session_id: str) -> None:
        """The first visit the customer wrote from is where the session's chat started."""
        if self.visit is None or session_id in self._visit_kept:
            return
        self._visit_kept.add(session_id)
        try:
            self.c.customers.save_visit(session_id, self.visit)
        except Unavailable as e:  # the message is stored; the visit is a nice-to-have
            log.warning("visit of session %s not kept: %s", session_id, e)

    def seen(self, entry_id: str) -> None:
        if not self.session_id:
            return
        try:
            if signals.store_receipt(
                self.c.redis, self.c.keys, self.session_id, "customer", entry_id
            ):
                self._signal({"type": "receipt", "party": "customer", "id": entry_id}, ("agent",))
        except redis.RedisError as e:
            raise Unavailable(f"cannot store the receipt: {e}") from e

    def _attach(self, session_id: str) -> None:
        if self.session_id != session_id:
            if self.session_id:
                self.c.hub.unsubscribe(self.conn, self.session_id)
            self.session_id = session_id
            self.c.hub.subscribe(self.conn, session_id)

    def _signal(self, frame: dict[str, Any], kinds: tuple[str, ...]) -> None:
        assert self.session_id
        try:
            signals.publish(
                self.c.redis,
                self.c.keys,
                self.session_id,
                frame | {"session_id": self.session_id},
                kinds,
            )
        except redis.RedisError as e:
            raise Unavailable(f"cannot reach Redis: {e}") from e


def _welcome(
    session: Any, who: CustomerPrincipal, service: str, receipts: dict[str, str]
) -> dict[str, Any]:
    return {
        "type": "welcome",
        "role": "customer",
        "user_id": who.user_id,
        "service": service,
        "session_id": session.id if session is not None else None,
        "receipts": receipts,  # no owner: the agent's login is not the customer's to see
    }
