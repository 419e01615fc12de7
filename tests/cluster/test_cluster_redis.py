"""What Redis Cluster does that implus must work around, pinned on a real cluster, and the
router's own cluster pieces: the asyncio client (the AMI bridge's) and the domain move."""

from __future__ import annotations

import asyncio

import pytest
import redis
from redis_cluster import RedisCluster, domain_slot, read_on_replica

from router import cluster as rc
from router.client import AsyncRouterClient, RouterClient
from router.connect import master_identity

pytestmark = [pytest.mark.redis, pytest.mark.slow]


def test_a_script_on_a_migrating_slot_fails_half_way_so_domains_move_atomically(
    redis_cluster: RedisCluster,
) -> None:
    """Why `move-domain` is one script on the source: while a slot is MIGRATING (what
    `redis-cli --cluster reshard` does), a script touching a key it did not declare that is
    not on the source fails after its earlier writes - which stay."""
    c = redis_cluster
    slot = domain_slot("pin")
    source = c.slot_owner(slot)
    target = next(p for p in c.primaries() if p is not source)
    declared = "implus:{pin}:agents"
    source.ask("SADD", declared, "a")
    target.ask("CLUSTER", "SETSLOT", slot, "IMPORTING", c.node_id(source))
    source.ask("CLUSTER", "SETSLOT", slot, "MIGRATING", c.node_id(target))
    try:
        with pytest.raises(redis.ResponseError, match="non local key"):
            source.ask("EVAL", "redis.call('SADD', KEYS[1], 'b') "
                       "redis.call('HSET', 'implus:{pin}:new', 'f', 1) return 1", 1, declared)  # fmt: skip
        assert sorted(source.ask("SMEMBERS", declared)) == ["a", "b"]  # the first write stayed
    finally:
        for node in (source, target):
            node.ask("CLUSTER", "SETSLOT", slot, "STABLE")


def test_move_slot_takes_every_key_and_refuses_a_replica(redis_cluster: RedisCluster) -> None:
    c = redis_cluster
    client = RouterClient.from_url(c.url, "mover")
    session = client.submit(channel="chat", service="s", user_id="u").session_id
    done = client.append(session, {"type": "message", "text": "before"}, cmid="m1")
    slot = domain_slot("mover")
    source = c.slot_owner(slot)
    target = next(p for p in c.primaries() if p is not source)
    replica = c.replicas_of(target)[0]
    with pytest.raises(ValueError, match="not a master"):
        rc.move_slot(client.redis, slot, f"127.0.0.1:{replica.port}")
    keys = int(source.ask("CLUSTER", "COUNTKEYSINSLOT", slot))
    assert rc.move_slot(client.redis, slot, f"127.0.0.1:{target.port}") == keys
    c.wait_ok(10)
    assert c.slot_owner(slot) is target
    assert int(target.ask("CLUSTER", "COUNTKEYSINSLOT", slot)) == keys
    # the client follows; acknowledgements now wait for the new master's replica
    again = client.append(session, {"type": "message", "text": "after"}, cmid="m2")
    assert client.confirmer is not None and client.confirmer.address == f"127.0.0.1:{target.port}"
    key = client.keys.transcript(session)
    assert read_on_replica(replica, "XRANGE", key, again.entry_id, again.entry_id)
    texts = [e["text"] for e in client.transcript(session) if e.get("text")]
    assert texts[-2:] == ["before", "after"] and done.entry_id < again.entry_id
    assert client.append(session, {"type": "message", "text": "before"}, cmid="m1").duplicate
    client.close()


def test_the_async_client_on_a_cluster(redis_cluster: RedisCluster) -> None:
    c = redis_cluster

    async def run() -> None:
        client = AsyncRouterClient.from_url(c.url, "async")
        try:
            await check(client)
        finally:  # a failure must not leave sockets for the next test's warnings check
            await client.close()

    async def check(client: AsyncRouterClient) -> None:
        session = (await client.submit(channel="chat", service="s", user_id="u")).session_id
        done = await client.append(session, {"type": "message", "text": "a"}, cmid="a")
        master = c.slot_owner(domain_slot("async"))
        assert client.confirmer is not None
        assert client.confirmer.address == f"127.0.0.1:{master.port}"
        key = client.keys.transcript(session)
        replica = c.replicas_of(master)[0]
        assert read_on_replica(replica, "XRANGE", key, done.entry_id, done.entry_id)
        events = await client.read_events("0-0", None, 100)
        assert any(e.type == "message.appended" or e.get("session") == session for e in events)
        # the AMI bridge's batched path: one pipeline to the domain's master
        found = await asyncio.gather(
            client.run_batched(client.ops.session(session)),
            client.run_batched(client.ops.session("nope")),
        )
        assert found[0] is not None and found[0].id == session and found[1] is None

    asyncio.run(run())
    # the bridges' "who answers" check covers every master
    sync = RouterClient.from_url(c.url)
    assert master_identity(sync.redis).count("=") == 3
    sync.close()
