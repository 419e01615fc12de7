"""Clients on a `redis+sentinel://` URL follow a failover by themselves: a master demoted
under them (READONLY, a blocking read unblocked), a replica that answers where a master
was expected."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
import redis
from redis_ha import MASTER_NAME, RedisHA

from router import connect
from router.client import AsyncRouterClient, RouterClient
from router.errors import RouterUnavailable

pytestmark = [pytest.mark.redis, pytest.mark.slow]


def until_ok(call: object, timeout: float = 15) -> object:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()  # type: ignore[operator]
        except RouterUnavailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_clients_follow_a_sentinel_failover(redis_ha: RedisHA) -> None:
    client = RouterClient.from_url(redis_ha.url)
    session = client.submit(channel="chat", service="s", user_id="u").session_id
    before = connect.master_identity(client.redis)
    seen: list[str] = []
    stop = threading.Event()

    def tail() -> None:  # what the chat service's fan-out does: a blocking read, always
        reader = RouterClient.from_url(redis_ha.url)
        newest = reader.redis.xrevrange(reader.keys.events(), count=1)
        last = newest[0][0] if newest else "0-0"
        while not stop.is_set():
            try:
                for event in reader.read_events(last, block_ms=1000):
                    last = event.id
                    if event.type == "session.event":
                        seen.append(event.get("entry"))
            except RouterUnavailable:
                time.sleep(0.1)
        reader.close()

    reader = threading.Thread(target=tail, daemon=True)
    reader.start()
    time.sleep(0.5)
    old = redis_ha.master()
    redis_ha.watchers[0].ask("SENTINEL", "FAILOVER", MASTER_NAME)  # the old master is demoted
    redis_ha.wait_failover(old.port)
    done = until_ok(lambda: client.append(session, {"type": "message", "text": "hi"}, cmid="1"))
    assert connect.master_identity(client.redis) != before
    deadline = time.monotonic() + 10
    while done.entry_id not in seen:  # type: ignore[attr-defined]
        assert time.monotonic() < deadline, "the blocking reader did not follow the failover"
        time.sleep(0.05)
    stop.set()
    reader.join(5)

    async def run() -> None:  # the asyncio client (the AMI bridge's) on the new master
        a = AsyncRouterClient.from_url(redis_ha.url)
        assert (await a.session(session)).id == session
        await a.close()

    asyncio.run(run())
    client.close()


def test_a_replica_is_never_taken_for_the_master(redis_ha: RedisHA) -> None:
    replica = redis_ha.nodes[1]
    conn = redis.Connection(
        port=replica.port, redis_connect_func=connect._verify_master, socket_timeout=2
    )
    with pytest.raises(redis.ConnectionError) as e:
        conn.connect()
    assert "answers as 'slave', not as the master" in str(e.value)
    conn.disconnect()
    master = redis.Connection(
        port=redis_ha.master().port, redis_connect_func=connect._verify_master
    )
    master.connect()  # the master passes the check
    master.disconnect()
