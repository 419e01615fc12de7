"""Fan-out: every chat instance tails the router's ``events`` stream (and the chat
signals channel) and pushes what concerns the connections it holds.

This is what makes several instances behind one Redis behave as one: a message appended
by instance A, or an offer made by an allocation worker, appears on the events stream, and
whichever instance holds the agent's or customer's websocket delivers it. Each instance
reads the whole stream (plain XREAD, no consumer group) starting from the moment it starts;
clients that were away catch up from the transcript, not from the stream.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import redis
from flask import Flask

from chat.context import Context, ctx
from chat.errors import ChatError
from chat.service import present

log = logging.getLogger(__name__)
RETRY_SECONDS = 1.0


class Dispatcher:
    """Turns one router event into pushes to local connections."""

    def __init__(self, c: Context) -> None:
        self.c = c
        self.handlers: dict[str, Callable[[dict[str, str]], None]] = {
            "session.event": self.session_event,
            "session.opened": self.session_opened,
            "session.closed": self.session_closed,
            "offer.created": self.offer_created,
            "offer.accepted": self.offer_accepted,
            "offer.rejected": self.offer_gone,
            "offer.timeout": self.offer_gone,
            "offer.rescinded": self.offer_gone,
            "request.queued": self.request_update,
            "request.cancelled": self.request_update,
            "request.overflowed": self.request_update,
            "contact.ended": self.contact_ended,
            "agent.status": self.agent_status,
        }

    def dispatch(self, event_type: str, fields: dict[str, str]) -> None:
        handler = self.handlers.get(event_type)
        if handler is None:
            return
        self.c.metrics.events.labels(event_type).inc()
        try:
            handler(fields)
        except ChatError as e:
            log.warning("event %s %s not delivered: %s", event_type, fields, e)

    def session_event(self, f: dict[str, str]) -> None:
        session_id = f.get("session", "")
        if not session_id or not self.c.hub.has_session(session_id):
            return
        entry_id = f.get("entry", "")
        body = _entry_body(f)
        if body is None:  # the event carries only the id: read the entry
            got = self.c.service.replay(session_id, _before(entry_id), for_customer=False)
            match = [b for i, b in got if i == entry_id]
            if not match:
                return
            body = match[0]
        else:
            body = present(entry_id, body)
        self.c.hub.deliver_entry(session_id, entry_id, body)

    def session_opened(self, f: dict[str, str]) -> None:
        self.c.hub.subscribe_customer(f.get("user", ""), f.get("service", ""), f.get("session", ""))

    def session_closed(self, f: dict[str, str]) -> None:
        session_id = f.get("session", "")
        frame = {
            "type": "session_closed",
            "session_id": session_id,
            "disposition": f.get("disposition", ""),
        }
        self.c.hub.to_session(session_id, frame)

    def offer_created(self, f: dict[str, str]) -> None:
        agent = f.get("agent", "")
        if not self.c.hub.agent_connections(agent):
            return
        self.c.hub.to_agent(
            agent,
            {
                "type": "offer",
                "offer_id": f.get("offer", ""),
                "request_id": f.get("request", ""),
                "session_id": f.get("session", ""),
                "channel": f.get("channel", ""),
                "service": f.get("service", ""),
                "user_id": f.get("user", ""),
                "deadline": int(f.get("deadline") or 0),
            },
        )

    def offer_accepted(self, f: dict[str, str]) -> None:
        agent, session_id = f.get("agent", ""), f.get("session", "")
        self.c.hub.to_agent(
            agent, {"type": "offer_gone", "offer_id": f.get("offer", ""), "reason": "accepted"}
        )
        self.c.hub.subscribe_agent(agent, session_id)
        self.c.hub.to_session(
            session_id,
            {
                "type": "agent_joined",
                "session_id": session_id,
                "agent": agent,
                "channel": f.get("channel", ""),
            },
            kinds=("customer",),
        )

    def offer_gone(self, f: dict[str, str]) -> None:
        self.c.hub.to_agent(
            f.get("agent", ""),
            {
                "type": "offer_gone",
                "offer_id": f.get("offer", ""),
                "reason": f.get("reason") or "gone",
            },
        )

    def request_update(self, f: dict[str, str]) -> None:
        session_id = f.get("session", "")
        if session_id:
            self.c.hub.to_session(
                session_id,
                {
                    "type": "request",
                    "session_id": session_id,
                    "request_id": f.get("request", ""),
                    "state": f.get("state") or f.get("type", ""),
                    "channel": f.get("channel", ""),
                    "queue": f.get("queue", ""),
                },
            )

    def contact_ended(self, f: dict[str, str]) -> None:
        agent, session_id = f.get("agent", ""), f.get("session", "")
        self.c.hub.to_agent(
            agent,
            {
                "type": "contact_ended",
                "session_id": session_id,
                "request_id": f.get("request", ""),
                "channel": f.get("channel", ""),
            },
        )

    def agent_status(self, f: dict[str, str]) -> None:
        frame = {
            "type": "agent_status",
            "agent": f.get("agent", ""),
            "status": f.get("status", ""),
            "reason": f.get("reason", ""),
        }
        self.c.hub.to_agent(f.get("agent", ""), frame)
        self.c.hub.to_supervisors(frame)


def _entry_body(f: dict[str, str]) -> dict[str, Any] | None:
    raw = f.get("body") or f.get("entry_json")
    if not raw:
        return None
    try:
        body = json.loads(raw)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _before(entry_id: str) -> str:
    ms, _, seq = entry_id.partition("-")
    n = int(seq or 0)
    return f"{ms}-{n - 1}" if n > 0 else f"{int(ms) - 1}-18446744073709551615"


class EventTailer(threading.Thread):
    """Reads the router's events stream from "now" and dispatches every event."""

    def __init__(self, c: Context) -> None:
        super().__init__(name="chat-event-tailer", daemon=True)
        self.c = c
        self.dispatcher = Dispatcher(c)
        self.stopping = threading.Event()
        self.last_id = "$"

    def run(self) -> None:
        client = self.c.service.client
        while not self.stopping.is_set():
            try:
                for stream_id, event in client.events(last_id=self.last_id, block_ms=1000):
                    self.last_id = stream_id
                    self._observe_lag(stream_id)
                    self.dispatcher.dispatch(event.type, dict(event.fields))
                    if self.stopping.is_set():
                        return
            except Exception:  # redis down, a bug in one handler: keep tailing after a pause
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
            msg = json.loads(raw)
            kinds = tuple(msg["kinds"]) if msg.get("kinds") else None
            self.c.hub.to_session(msg["session_id"], msg["frame"], kinds=kinds)
        except (ValueError, KeyError, TypeError):
            log.warning("dropping a malformed signal")


class BoardPusher(threading.Thread):
    """Pushes queue statistics to supervisor pages every ``stats_interval`` seconds."""

    def __init__(self, c: Context) -> None:
        super().__init__(name="chat-board", daemon=True)
        self.c = c
        self.stopping = threading.Event()

    def run(self) -> None:
        from chat.ws_supervisor import snapshot

        while not self.stopping.wait(self.c.settings.stats_interval):
            if not self.c.hub.count().get("supervisor"):
                continue
            try:
                self.c.hub.to_supervisors(snapshot(self.c))
            except Exception:
                log.exception("supervisor board update failed")


def start_background_threads(app: Flask) -> None:
    c = ctx(app)
    for thread in (EventTailer(c), SignalListener(c), BoardPusher(c)):
        thread.start()
        c.background.append(thread)


def stop_background_threads(app: Flask) -> None:
    c = ctx(app)
    for thread in c.background:
        thread.stopping.set()
    for thread in c.background:
        thread.join(5)
    c.background.clear()


__all__ = ["Dispatcher", "start_background_threads", "stop_background_threads"]
