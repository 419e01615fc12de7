"""esl_bridge.redis_gevent: in a gevent-patched process, redis-py's checkout check asks the
OS's poll for a zero timeout and still sees unread data and a connection the server closed.
Run in a child process: nothing in pytest's own process may be monkey-patched."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent(
    """
    from gevent import monkey
    monkey.patch_all()
    import sys
    import redis
    from redis._parsers import hiredis as parser
    from esl_bridge import redis_gevent

    url = sys.argv[1]
    assert redis_gevent.install() and redis_gevent.install()
    check = parser._socket_can_read
    assert check.original is not None

    r = redis.Redis.from_url(url, decode_responses=True)
    conn = r.connection_pool.get_connection()
    assert conn.can_read(0) is False                  # nothing pending
    conn.send_command("PING")
    import time; time.sleep(0.05)
    assert conn.can_read(0) is True                   # a reply nobody read
    assert conn.read_response() == "PONG"
    assert conn.can_read(0) is False
    r.client_kill_filter(_id=int(conn.send_command("CLIENT", "ID") or conn.read_response()))
    time.sleep(0.05)
    try:
        conn.can_read(0)
    except redis.ConnectionError:
        pass                                          # closed by the server: not reused
    else:
        raise AssertionError("a closed connection looked usable")
    r.connection_pool.release(conn)
    assert r.ping() is True                           # the pool replaces it
    print("ok")
    """
)


def test_checkout_check_without_gevents_poll(redis_url: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, redis_url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
