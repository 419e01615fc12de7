"""The receive loop shared by every websocket endpoint: rate, size and shape checks.

A bad frame never ends the connection: the client gets an ``error`` frame (with ``ref``
set to the frame's ``cid`` when it had one) and the loop goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from pydantic import TypeAdapter
from simple_websocket import ConnectionClosed

from chat import client_errors, protocol, safe_json
from chat.connection import Connection
from chat.context import Context
from chat.errors import ChatError

log = logging.getLogger(__name__)

CLOSE_GRACE_S = 5.0
"""How long a handler waits for its connection's writer to send what is queued and the
close frame before returning (a client that stopped reading costs at most this)."""


def _ref(raw: Any) -> str | None:
    # The frame failed validation: it may be anything, 5,000 nested arrays included.
    try:
        data = safe_json.loads(raw)
    except (TypeError, ValueError):
        return None
    cid = data.get("cid") if isinstance(data, dict) else None
    return cid if isinstance(cid, str) and len(cid) <= 64 else None


def serve(
    c: Context,
    conn: Connection,
    adapter: TypeAdapter[Any],
    handle: Callable[[Any], None],
    on_close: Callable[[], None] | None = None,
) -> None:
    """Run the connection until the client goes away."""
    c.hub.add(conn)
    gauge = c.metrics.connections.labels(conn.kind)
    gauge.inc()
    try:
        while not conn.closed:
            # no timeout: a timer per frame costs CPU; close() and the reader wake us
            raw = conn.receive()
            if raw is not None:
                _one_frame(c, conn, adapter, handle, raw)
    except ConnectionClosed:
        pass
    finally:
        c.hub.remove(conn)
        gauge.dec()
        conn.close()
        # flask-sock closes the websocket with 1000 as soon as we return: let the writer
        # send the frames still queued and our own close code (4401 revoked, 1008 too
        # slow, 1013 try later) first, or the page reconnects instead of acting on it.
        conn.wait_closed(CLOSE_GRACE_S)
        if on_close is not None:
            on_close()


def _one_frame(
    c: Context,
    conn: Connection,
    adapter: TypeAdapter[Any],
    handle: Callable[[Any], None],
    raw: str | bytes,
) -> None:
    """Handle one client frame; whatever fails becomes an error frame for the client."""
    frame = None
    try:
        conn.bucket.take()
        frame = protocol.parse(adapter, raw, c.settings.max_frame_bytes)
        c.metrics.frame_in(conn.kind, frame.type).inc()
        handle(frame)
        return
    except ChatError as e:
        error: Exception = e
    except Exception as e:  # a bug must not cost the client its connection
        log.exception("%r: frame failed", conn)
        error = e
    code = client_errors.code_of(error)
    c.metrics.frame_errors.labels(conn.kind, code).inc()
    ref = getattr(frame, "cid", None) if frame is not None else _ref(raw)
    audience = "customer" if conn.kind == "customer" else "staff"
    text = client_errors.message_for(error, audience, repr(conn))
    conn.push(protocol.error(code, text, ref))
    if code == "unavailable" and isinstance(frame, protocol.Hello):
        # Without its hello the link is useless: close with "try again later" so the
        # client reconnects with backoff (a reconnect storm, Redis restarting) instead
        # of sending into a half-set-up link.
        conn.close(1013, "temporarily unavailable: reconnect")
