"""router.client.held.HeldConnection: the asyncio router client's batched pipelines on one
held connection, with the same replies, errors, script reloads and reconnection as a
redis.asyncio pipeline (real redis-server)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import redis

from router.client import AsyncRouterClient
from router.client.held import HeldConnection
from router.ops import Batch, cmd

pytestmark = [pytest.mark.redis]

Body = Callable[[AsyncRouterClient], Awaitable[Any]]


def _run(redis_url: str, body: Body) -> Any:
    async def main() -> Any:
        client = AsyncRouterClient.from_url(redis_url)
        try:
            return await body(client)
        finally:
            await client.close()

    return asyncio.run(main())


def _batch(client: AsyncRouterClient) -> Batch:
    return Batch(
        (
            cmd("HSET", "h", "f", "v"),
            cmd("HGETALL", "h"),
            cmd("INCR", "text"),
            client.ops.remove_agent("nobody").send(None),  # a script step
            cmd("INCR", "n"),
        )
    )


def _kinds(replies: list[Any]) -> list[Any]:
    return [type(r) if isinstance(r, Exception) else r for r in replies]


def test_replies_and_errors_are_those_of_a_pipeline(redis_url: str, rds: redis.Redis) -> None:
    async def body(client: AsyncRouterClient) -> tuple[list[Any], list[Any]]:
        rds.set("text", "abc")
        mine = await client._send_batch(_batch(client))
        rds.flushdb()
        rds.set("text", "abc")
        theirs = await client._replies_on(client.redis, _batch(client))
        return mine, theirs

    mine, theirs = _run(redis_url, body)
    assert _kinds(mine) == _kinds(theirs)
    assert mine[1] == {"f": "v"}  # redis-py's reply callbacks applied (HGETALL: a dict)
    assert isinstance(mine[2], redis.ResponseError)
    assert mine[4] == 1  # the commands after an error still ran


def test_the_batcher_sends_on_the_held_connection(redis_url: str) -> None:
    async def body(client: AsyncRouterClient) -> tuple[list[Any], Any]:
        replies = await asyncio.gather(
            *(client.run_batched(_one(cmd("INCR", "k"))) for _ in range(5))
        )
        return replies, client.held._conn

    replies, conn = _run(redis_url, body)
    assert sorted(replies) == [1, 2, 3, 4, 5]
    assert conn is not None


def _one(step: Any) -> Any:
    return (yield step)


def test_scripts_redis_forgot_are_loaded_again(redis_url: str, rds: redis.Redis) -> None:
    async def body(client: AsyncRouterClient) -> tuple[Any, Any]:
        step = client.ops.remove_agent("nobody").send(None)
        first = await client._send_batch(Batch((step,)))
        rds.script_flush()
        again = await client._send_batch(Batch((step,)))
        return first, again

    first, again = _run(redis_url, body)
    assert first == again and not isinstance(first[0], Exception)


def test_a_killed_connection_is_replaced_before_use(redis_url: str, rds: redis.Redis) -> None:
    async def body(client: AsyncRouterClient) -> list[Any]:
        assert await client.held.replies([("SET", "before", "1")]) == [True]
        rds.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
        await asyncio.sleep(0.05)  # the close reached this process
        return await client.held.replies([("INCR", "after")]) or []

    assert _run(redis_url, body) == [1]


def test_a_cancelled_round_trip_leaves_no_reply_for_the_next(redis_url: str) -> None:
    """Cancelled while Redis has not answered (the batcher's timeout): the late reply must
    not be read as the next pipeline's - the connection is closed and made again."""

    async def body(client: AsyncRouterClient) -> list[Any]:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(client.held.replies([("BLPOP", "nothing", "0.3")]), 0.05)
        await asyncio.sleep(0.4)  # BLPOP's nil reply would be waiting by now
        return await client.held.replies([("PING",)]) or []

    assert _run(redis_url, body) == [True]


def test_in_use_the_caller_is_told_to_use_a_pipeline(redis_url: str) -> None:
    async def body(client: AsyncRouterClient) -> tuple[Any, Any]:
        slow = asyncio.create_task(client.held.replies([("BLPOP", "nothing", "0.2")]))
        await asyncio.sleep(0.05)
        busy = await client.held.replies([("PING",)])
        served = await client._send_batch(Batch((cmd("INCR", "k"),)))  # the pool's way
        await slow
        return busy, served

    busy, served = _run(redis_url, body)
    assert busy is None
    assert served == [1]


def test_a_replica_answer_closes_the_connection(redis_url: str, rds: redis.Redis) -> None:
    """READONLY (the master became a replica after a failover): the next use reconnects,
    through the pool's connection class (Sentinel: to the new master)."""

    async def body(client: AsyncRouterClient) -> tuple[Any, bool]:
        rds.execute_command("REPLICAOF", "127.0.0.1", "1")  # never reached: still a replica
        try:
            replies = await client.held.replies([("SET", "k", "v")]) or []
        finally:
            rds.execute_command("REPLICAOF", "NO", "ONE")
        return replies, client.held._conn.is_connected

    replies, connected = _run(redis_url, body)
    assert isinstance(replies[0], redis.exceptions.ReadOnlyError)
    assert not connected


def test_redis_gone_raises_the_connection_error() -> None:
    async def body(client: AsyncRouterClient) -> Any:
        return await client.held.replies([("PING",)])

    with pytest.raises(redis.ConnectionError):
        _run("redis://127.0.0.1:1/0", body)


def test_an_operation_run_on_a_held_connection_of_its_own(redis_url: str, rds: redis.Redis) -> None:
    """`run(op, held)` (the AMI bridge's blocking command reads): each round trip on that
    connection, replies as `run` gives them, errors raised, forgotten scripts loaded."""
    rds.set("text", "abc")

    async def body(client: AsyncRouterClient) -> tuple[Any, ...]:
        reader = HeldConnection(client.redis)
        try:
            rds.xgroup_create("s", "g", id="0", mkstream=True)
            rds.xadd("s", {"k": "v"})
            read = await client.run(
                _one(cmd("XREADGROUP", "GROUP", "g", "me", "BLOCK", 10, "STREAMS", "s", ">")),
                reader,
            )
            batch = await client.run(_one(Batch((cmd("INCR", "n"), cmd("INCR", "n")))), reader)
            with pytest.raises(redis.ResponseError):
                await client.run(_one(cmd("INCR", "text")), reader)
            step = client.ops.remove_agent("nobody").send(None)
            rds.script_flush()
            script = await client.run(_one(step), reader)
            return read, batch, script, reader._conn
        finally:
            await reader.close()

    read, batch, script, conn = _run(redis_url, body)
    assert read[0][1][0][1] == {"k": "v"}  # XREADGROUP's reply callback applied
    assert batch == [1, 2]
    assert not isinstance(script, Exception)
    assert conn is not None  # they went on the held connection
