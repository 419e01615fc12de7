"""router.durable on a real master with real replicas (no sentinels needed here): an
acknowledgement means the replicas hold it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis_ha import RedisHA

from router import scripts
from router.client import AsyncRouterClient, RouterClient
from router.durable import NotReplicated
from router.model import AgentProfile
from router.ops import Batch, Script, cmd

pytestmark = [pytest.mark.redis]


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[RedisHA]:
    """A master and two replicas."""
    ha = RedisHA(tmp_path / "redis", replicas=2, sentinels=0)
    try:
        ha.start()
        yield ha
    finally:
        ha.stop()


def client_of(ha: RedisHA, port: int | None = None) -> RouterClient:
    port = port or ha.nodes[0].port
    return RouterClient.from_url(f"redis://127.0.0.1:{port}/0?wait_replicas=1&wait_timeout_ms=1000")


def on_replica(ha: RedisHA, i: int, session: str, entry_id: str) -> bool:
    key = RouterClient.from_url(f"redis://127.0.0.1:{ha.nodes[i].port}/0").keys.transcript(session)
    return bool(ha.nodes[i].ask("XRANGE", key, entry_id, entry_id))


def test_an_acknowledgement_waits_for_every_replica(pair: RedisHA) -> None:
    client = client_of(pair)
    session = client.submit(channel="chat", service="s", user_id="u").session_id
    first = client.append(session, {"type": "message", "text": "one"}, cmid="c1")
    # acknowledged: both replicas hold it at the moment the call returns
    assert on_replica(pair, 1, session, first.entry_id)
    assert on_replica(pair, 2, session, first.entry_id)
    assert client.confirmer is not None and client.confirmer.online == 2

    pair.nodes[2].pause()  # one replica stops (it still counts as online for a while)
    started = time.monotonic()
    with pytest.raises(NotReplicated) as e:
        client.append(session, {"type": "message", "text": "two"}, cmid="c2")
    assert 0.9 < time.monotonic() - started < 3
    assert "1 of 2 Redis replica(s) confirmed" in str(e.value)
    # the same message again: stored once already, and still not acknowledged - the WAIT
    # covers the first write although the retry writes nothing
    with pytest.raises(NotReplicated):
        client.append(session, {"type": "message", "text": "two"}, cmid="c2")
    pair.nodes[2].resume()
    again = client.append(session, {"type": "message", "text": "two"}, cmid="c2")
    assert again.duplicate
    assert on_replica(pair, 2, session, again.entry_id)
    texts = [e.get("text") for e in client.transcript(session) if e["type"] == "message"]
    assert texts == ["one", "two"]
    client.close()


def test_an_accept_waits_and_the_same_accept_again_succeeds(pair: RedisHA) -> None:
    client = client_of(pair)
    client.upsert_agent(AgentProfile(id="ann", name="Ann", capacity={"chat": 2}))
    client.heartbeat("ann", source="desktop", ttl=600)
    client.set_status("ann", "available")
    sub = client.submit(channel="chat", service="s", user_id="u")
    offer_id = "o1"
    (reply,) = client.execute(
        Script("reserve_batch", (1, 60, sub.request_id, "ann", offer_id,
                                 client.ops.clock() + 60_000, '["q"]', 0, "r", 0, "{}"))
    )  # fmt: skip
    assert int(reply[0]) == 1, reply
    pair.nodes[1].pause()
    with pytest.raises(NotReplicated):
        client.accept(offer_id, "ann")
    pair.nodes[1].resume()
    assert client.accept(offer_id, "ann")  # the retry: the same accept, now confirmed
    agent = client.agent("ann")
    assert agent is not None and agent.load.get("chat") == 1
    client.close()


def test_the_async_client_waits_the_same_way(pair: RedisHA) -> None:
    url = f"redis://127.0.0.1:{pair.nodes[0].port}/0?wait_replicas=2&wait_timeout_ms=1000"

    async def run() -> None:
        client = AsyncRouterClient.from_url(url)
        session = (await client.submit(channel="chat", service="s", user_id="u")).session_id
        done = await client.append(session, {"type": "message", "text": "a"}, cmid="a")
        assert on_replica(pair, 1, session, done.entry_id)
        pair.nodes[1].pause()
        try:
            with pytest.raises(NotReplicated):
                await client.append(session, {"type": "message", "text": "b"}, cmid="b")
        finally:
            pair.nodes[1].resume()
        assert (await client.append(session, {"type": "message", "text": "b"}, cmid="b")).duplicate
        # the AMI bridge's batched path waits the same way (acknowledged steps are not batched)
        done = await client.run_batched(
            client.ops.append(session, {"type": "message", "text": "c"}, cmid="c")
        )
        assert on_replica(pair, 1, session, done.entry_id)
        pair.nodes[1].pause()
        try:
            with pytest.raises(NotReplicated):
                await client.run_batched(
                    client.ops.append(session, {"type": "message", "text": "d"}, cmid="d")
                )
        finally:
            pair.nodes[1].resume()
        await client.close()

    asyncio.run(run())


def test_a_promoted_replica_lacks_the_scripts_and_both_pipelines_load_them(
    pair: RedisHA,
) -> None:
    client = client_of(pair)
    client.upsert_agent(AgentProfile(id="ann", name="Ann", capacity={"chat": 5}))
    session = client.submit(channel="chat", service="s", user_id="u").session_id
    client.append(session, {"type": "message", "text": "before"}, cmid="x0")
    replica = pair.nodes[1]
    sha = client._scripts["append"].sha
    assert replica.ask("SCRIPT", "EXISTS", sha) == [False]  # scripts are not replicated
    pair.nodes[0].kill()
    replica.ask("REPLICAOF", "NO", "ONE")
    replica.ask("CONFIG", "SET", "min-replicas-to-write", "0")  # alone, for this test
    pair.nodes[2].ask("REPLICAOF", "127.0.0.1", replica.port)
    pair.wait_replicated(10)
    promoted = client_of(pair, replica.port)
    # a durable step (append) and a plain batch of scripts (as the workers send them)
    done = promoted.append(session, {"type": "message", "text": "after"}, cmid="x1")
    assert on_replica(pair, 2, session, done.entry_id)
    replies = promoted.execute(
        Batch((Script("heartbeat", ("ann", "desktop", 60_000, "")), cmd("PING")))
    )
    assert replies[1] in ("PONG", True)
    assert replica.ask("SCRIPT", "EXISTS", sha) == [True]
    with pytest.raises(redis.ResponseError):  # other errors still surface as they are
        promoted.execute(cmd("NOSUCHCOMMAND"))
    assert scripts.source("append")
    for c in (client, promoted):
        c.close()
