"""Fan-out: every chat instance tails the router's ``events`` stream (and the chat
signals channel) and pushes what concerns the connections it holds.

This is what makes several instances behind one Redis behave as one: a message appended
by instance A, or an offer made by an allocation worker, appears on the events stream, and
whichever instance holds the agent's or customer's websocket delivers it. Each instance
reads the whole stream (plain XREAD, no consumer group) starting from the moment it starts;
clients that were away catch up from the transcript, not from the stream.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import redis
from flask import Flask

from chat import safe_json
from chat.connection import KeepAlive
from chat.context import Context, ctx
from chat.customers import PREVIEW_CHARS
from chat.errors import ChatError
from chat.wallboard import BOARD_EVENTS
from router.client import transcript_entry
from router.errors import RouterUnavailable

log = logging.getLogger(__name__)
RETRY_SECONDS = 1.0
ENDING = frozenset({"request.cancelled", "request.overflowed"})
"""Request events after which the request no longer routes (with contact.ended)."""


class Dispatcher:
    """Turns one router event into pushes to local connections."""

    def __init__(self, c: Context) -> None:
        self.c = c
        self.unpreviewed: dict[str, tuple[str, str]] = {}
        """session -> (offer, agent) of chat offers pushed before the customer's first
        message was stored (the router may offer a chat before its message is appended):
        the message is sent after them as an ``offer_preview``."""
        self.handlers: dict[str, Callable[[dict[str, str]], None]] = {
            "session.event": self.session_event,
            "session.opened": self.session_opened,
            "session.closed": self.session_closed,
            "offer.created": self.offer_created,
            "offer.accepted": self.offer_accepted,
            "offer.rejected": self.offer_gone,
            "offer.timeout": self.offer_gone,
            "offer.failed": self.offer_gone,
            "offer.rescinded": self.offer_gone,
            "request.queued": self.request_update,
            "request.cancelled": self.request_update,
            "request.overflowed": self.request_update,
            "request.transferred": self.request_update,
            "contact.ended": self.contact_ended,
            "contact.handed_over": self.handed_over,
            "agent.status": self.agent_status,
        }

    def dispatch(self, event_type: str, fields: dict[str, str]) -> None:
        if self.c.wallboard is not None and event_type.startswith(BOARD_EVENTS):
            self.c.wallboard.changed.set()
        handler = self.handlers.get(event_type)
        if handler is None:
            return
        self.c.metrics.event(event_type).inc()
        try:
            handler(fields)
        except ChatError as e:
            log.warning("event %s %s not delivered: %s", event_type, fields, e)

    def session_event(self, f: dict[str, str]) -> None:
        session_id = f.get("session", "")
        if session_id in self.unpreviewed and f.get("etype") == "message":
            self.late_preview(session_id, f)
        if not self.c.hub.has_session(session_id):
            return
        # The event carries the whole entry: delivering it costs no Redis round trip.
        entry = transcript_entry(
            f.get("entry", ""),
            {"type": f.get("etype", ""), "at": f.get("at", "0"), "data": f.get("data", "{}")},
        )
        self.c.hub.deliver_entry(session_id, self.c.service.names.named(entry))

    def session_opened(self, f: dict[str, str]) -> None:
        self.c.hub.subscribe_customer(f.get("user", ""), f.get("service", ""), f.get("session", ""))

    def session_closed(self, f: dict[str, str]) -> None:
        session_id = f.get("session", "")
        self.c.hub.chat_ended(session_id)
        frame = {
            "type": "session_closed",
            "session_id": session_id,
            "disposition": f.get("disposition", ""),
        }
        self.c.hub.to_session(session_id, frame)

    def offer_created(self, f: dict[str, str]) -> None:
        agent = f.get("agent", "")
        if self.c.hub.agent_connections(agent):
            frame = with_preview(self.c, offer_frame(f))
            if not frame.get("preview") and frame["channel"] == "chat":
                if len(self.unpreviewed) > 10_000:
                    self.unpreviewed.clear()
                self.unpreviewed[frame["session_id"]] = (frame["offer_id"], agent)
            self.c.hub.to_agent(agent, frame)

    def late_preview(self, session_id: str, f: dict[str, str]) -> None:
        entry = safe_json.loads(f.get("data") or "{}")
        if not isinstance(entry, dict) or entry.get("from") != "customer":
            return
        offer_id, agent = self.unpreviewed.pop(session_id)
        text = str(entry.get("text") or "") or "sent a file"
        self.c.hub.to_agent(
            agent,
            {"type": "offer_preview", "offer_id": offer_id, "preview": text[:PREVIEW_CHARS]},
        )

    def offer_accepted(self, f: dict[str, str]) -> None:
        agent, session_id = f.get("agent", ""), f.get("session", "")
        self.unpreviewed.pop(session_id, None)
        self.c.hub.to_agent(
            agent, {"type": "offer_gone", "offer_id": f.get("offer", ""), "reason": "accepted"}
        )
        self.c.hub.subscribe_agent(agent, session_id)
        self.c.hub.to_session(
            session_id,
            {"type": "agent_joined", "session_id": session_id, "channel": f.get("channel", "")},
            kinds=("customer",),
        )

    def offer_gone(self, f: dict[str, str]) -> None:
        self.unpreviewed.pop(f.get("session", ""), None)
        self.c.hub.to_agent(
            f.get("agent", ""),
            {
                "type": "offer_gone",
                "offer_id": f.get("offer", ""),
                "reason": f.get("type", "offer.gone").removeprefix("offer."),
                "detail": f.get("reason", ""),
            },
        )

    def request_update(self, f: dict[str, str]) -> None:
        session_id = f.get("session", "")
        if f.get("channel") == "chat" and f.get("type") in ENDING:
            self.c.hub.chat_ended(session_id)
        if session_id:
            self.c.hub.to_session(
                session_id,
                {
                    "type": "request",
                    "session_id": session_id,
                    "request_id": f.get("request", ""),
                    "state": f.get("type", "").removeprefix("request."),
                    "channel": f.get("channel", ""),
                },
            )

    def contact_ended(self, f: dict[str, str]) -> None:
        agent, session_id = f.get("agent", ""), f.get("session", "")
        if f.get("channel") == "chat":
            self.c.hub.chat_ended(session_id)
        if not self.c.hub.agent_connections(agent):
            return
        self.c.hub.to_agent(
            agent,
            {
                "type": "contact_ended",
                "session_id": session_id,
                "request_id": f.get("request", ""),
                "channel": f.get("channel", ""),
                "reason": f.get("reason", ""),
            },
        )
        # A transferred (or ended) conversation stops flowing to this agent's desktop
        # unless the agent still has another contact (say a call) in the session.
        if not any(s.id == session_id for s in self.c.service.agent_sessions(agent)):
            self.c.hub.unsubscribe_agent(agent, session_id)

    def handed_over(self, f: dict[str, str]) -> None:
        """An attended transfer gave the agent a call: their desktop opens its session."""
        agent, session_id = f.get("agent", ""), f.get("session", "")
        self.c.hub.subscribe_agent(agent, session_id)
        self.c.hub.to_agent(agent, {"type": "handed_over", "session_id": session_id})

    def agent_status(self, f: dict[str, str]) -> None:
        frame = {
            "type": "agent_status",
            "agent": f.get("agent", ""),
            "status": f.get("status", ""),
            "reason": f.get("reason", ""),
        }
        self.c.hub.to_agent(f.get("agent", ""), frame)
        self.c.hub.to_supervisors(frame)


def offer_frame(f: dict[str, str]) -> dict[str, Any]:
    """An ``offer.created`` event as the desktop's offer frame. ``now`` is the server's
    clock, so the desktop's countdown to ``deadline`` does not depend on the PC's clock."""
    return {
        "type": "offer",
        "offer_id": f.get("offer", ""),
        "request_id": f.get("request", ""),
        "session_id": f.get("session", ""),
        "channel": f.get("channel", ""),
        "service": f.get("service", ""),
        "user_id": f.get("user", ""),
        "callback": f.get("callback", ""),
        "deadline": int(f.get("deadline") or 0),
        "now": int(time.time() * 1000),
    }


def with_preview(c: Context, frame: dict[str, Any]) -> dict[str, Any]:
    """The offer frame with the customer's name and first message (``customer_name``,
    ``vip``, ``preview``), so the agent knows what is offered before accepting. An offer
    goes out without them rather than not at all."""
    try:
        preview = c.service.offer_preview(frame["session_id"], frame["user_id"], frame["channel"])
    except ChatError as e:
        log.warning("offer %s goes without a preview: %s", frame.get("offer_id"), e)
        return frame
    return frame | preview


class EventTailer(threading.Thread):
    """Reads the router's events stream from "now" and dispatches every event."""

    def __init__(self, c: Context) -> None:
        super().__init__(name="chat-event-tailer", daemon=True)
        self.c = c
        self.dispatcher = Dispatcher(c)
        self.stopping = threading.Event()
        self.last_id = "$"

    def run(self) -> None:
        client = self.c.router
        while not self.stopping.is_set():
            try:
                for event in client.read_events(self.last_id, block_ms=1000):
                    self.last_id = event.id
                    self._observe_lag(event.id)
                    self.dispatcher.dispatch(event.type, dict(event.fields))
            except (RouterUnavailable, redis.RedisError) as e:  # down, or a failover
                log.warning("events tail: %s; retrying from %s", e, self.last_id)
                self.stopping.wait(RETRY_SECONDS)
            except Exception:  # a bug in one handler: keep tailing after a pause
                log.exception("events tail failed; retrying from %s", self.last_id)
                self.stopping.wait(RETRY_SECONDS)

    def _observe_lag(self, stream_id: str) -> None:
        ms = int(stream_id.split("-")[0])
        self.c.metrics.fanout_seconds.observe(max(0.0, time.time() - ms / 1000))


class SignalListener(threading.Thread):
    """Delivers typing indicators and receipts published by any instance."""

    def __init__(self, c: Context) -> None:
        super().__init__(name="chat-signals", daemon=True)
        self.c = c
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            pubsub = self.c.redis.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(self.c.keys.signals())
                while not self.stopping.is_set():
                    msg = pubsub.get_message(timeout=1.0)
                    if msg is not None:
                        self._deliver(msg["data"])
            except redis.RedisError:
                log.warning("signals channel lost; resubscribing")
                self.stopping.wait(RETRY_SECONDS)
            finally:
                pubsub.close()

    def _deliver(self, raw: bytes) -> None:
        try:
            msg = safe_json.loads(raw)
            kinds = tuple(msg["kinds"]) if msg.get("kinds") else None
            self.c.hub.to_session(msg["session_id"], msg["frame"], kinds=kinds)
        except (ValueError, KeyError, TypeError):
            log.warning("dropping a malformed signal")


def start_background_threads(app: Flask) -> None:
    from chat.presence import PresenceKeeper
    from chat.recordings import RecordingPruner
    from chat.session_watch import SessionWatch
    from chat.wallboard_push import BoardPusher, HistoryPusher

    c = ctx(app)
    threads: list[Any] = [
        EventTailer(c),
        SignalListener(c),
        BoardPusher(c),
        HistoryPusher(c),
        PresenceKeeper(c),
        SessionWatch(c),
    ]
    if c.settings.ping_interval:
        threads.append(KeepAlive(c.hub.all, c.settings.ping_interval))
    if c.settings.prune_interval_s:
        threads.append(RecordingPruner(c.calls.store, c.settings.prune_interval_s))
    for thread in threads:
        thread.start()
        c.background.append(thread)


def stop_background_threads(app: Flask) -> None:
    c = ctx(app)
    for thread in c.background:
        thread.stopping.set()
    for thread in c.background:
        thread.join(5)
    c.background.clear()


__all__ = [
    "Dispatcher",
    "offer_frame",
    "start_background_threads",
    "stop_background_threads",
    "with_preview",
]
