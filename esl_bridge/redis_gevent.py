"""redis-py in the gevent-patched ESL bridge: the readiness check of every connection checkout
without gevent's `select.poll`.

redis-py (5+) asks, each time a connection leaves the pool, whether the socket has unread
data (`can_read(timeout=0)`, a stale reply would desynchronise the connection). With hiredis
it does so through `select.poll()`, which gevent's monkey-patching replaces with a
cooperative poll that creates, starts and stops a libev watcher per socket: ~10% of the
bridge's CPU under call load, one check per Redis round trip. A poll with a zero timeout
cannot block, so the OS's own `poll` answers the same question in one system call without
stalling the other greenlets. Any other timeout still goes through gevent.

`install()` is called once by the bridge's process (esl_bridge.cli). If redis-py no longer has
the function it replaces, nothing is changed (tests/esl/test_redis_gevent.py says so).
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

_installed = False


def install() -> bool:
    """Replace redis-py's hiredis readiness check by `ready_now` for zero timeouts; True if
    done (or done before)."""
    global _installed
    if _installed:
        return True
    try:
        from redis._parsers import hiredis as parser
    except ImportError:  # pragma: no cover - redis-py moved its parsers
        return False
    original = getattr(parser, "_socket_can_read", None)
    if original is None:
        log.info("redis-py has no _socket_can_read: its readiness check is left as it is")
        return False
    from gevent import monkey

    real_poll = monkey.get_original("select", "poll")
    pollin = monkey.get_original("select", "POLLIN")

    def socket_can_read(sock: Any, timeout: float | None) -> bool:
        if timeout != 0 or (hasattr(sock, "pending") and sock.pending()):
            return bool(original(sock, timeout))
        poller = real_poll()
        poller.register(sock, pollin)
        return bool(poller.poll(0))

    socket_can_read.original = original  # type: ignore[attr-defined]
    parser._socket_can_read = socket_can_read
    _installed = True
    return True
