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

from chat import protocol, safe_json
from chat.connection import Connection
from chat.context import Context
from chat.errors import AuthError, BadInput, Forbidden, NotFoundError, Refused, Unavailable

log = logging.getLogger(__name__)


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
            if raw is None:
                continue
            frame = None
            try:
                conn.bucket.take()
                frame = protocol.parse(adapter, raw, c.settings.max_frame_bytes)
                c.metrics.frame_in(conn.kind, frame.type).inc()
                handle(frame)
            except BadInput as e:
                c.metrics.frame_errors.labels(conn.kind, e.code).inc()
                conn.push(protocol.error(e.code, str(e), _ref(raw)))
            except (Forbidden, NotFoundError, AuthError, Refused) as e:
                code = {NotFoundError: "not_found", AuthError: "auth_error"}.get(
                    type(e), type(e).__name__.lower()
                )
                c.metrics.frame_errors.labels(conn.kind, code).inc()
                conn.push(protocol.error(code, str(e), getattr(frame, "cid", None)))
            except Unavailable as e:
                c.metrics.frame_errors.labels(conn.kind, "unavailable").inc()
                conn.push(
                    protocol.error(
                        "unavailable",
                        f"{e} - nothing was stored; retry shortly",
                        getattr(frame, "cid", None),
                    )
                )
                if isinstance(frame, protocol.Hello):
                    # Without its hello the link is useless: close with "try again later"
                    # so the client reconnects with backoff (a reconnect storm, Redis
                    # restarting) instead of sending into a half-set-up link.
                    conn.close(1013, "temporarily unavailable: reconnect")
            except Exception:  # a bug must not cost the client its connection
                log.exception("%r: frame failed", conn)
                conn.push(
                    protocol.error(
                        "server_error",
                        "the server failed on this frame; it was not stored",
                        getattr(frame, "cid", None),
                    )
                )
    except ConnectionClosed:
        pass
    finally:
        c.hub.remove(conn)
        gauge.dec()
        conn.close()
        if on_close is not None:
            on_close()
