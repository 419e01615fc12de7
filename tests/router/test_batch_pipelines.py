"""A Batch of scripts is one round trip: no SCRIPT EXISTS before each pipeline (redis-py
does that for Script objects in a pipeline), and scripts Redis forgot are loaded again."""

from __future__ import annotations

import asyncio

import redis

from router.client import AsyncRouterClient, RouterClient
from router.ops import Batch, Script, cmd


def _script_exists_calls(r: redis.Redis) -> int:
    stats = r.info("commandstats")
    return int(stats.get("cmdstat_script|exists", {}).get("calls", 0))


def _batch() -> Batch:
    # `submit` needs a few arguments; `cancel` of an unknown request is a harmless refusal
    return Batch((Script("cancel", ("nope", "test")), cmd("PING"), Script("cancel", ("x", "t"))))


def test_sync_batch_sends_no_script_exists_and_survives_a_flush(redis_url: str) -> None:
    client = RouterClient.from_url(redis_url)
    plain = redis.Redis.from_url(redis_url, decode_responses=True)
    client.execute(Script("cancel", ("warm", "up")))  # scripts loaded once
    before = _script_exists_calls(plain)
    for _ in range(5):
        replies = client.execute(_batch())
        assert replies[1] == "PONG" or replies[1] is True
    assert _script_exists_calls(plain) == before
    plain.script_flush()
    replies = client.execute(_batch())
    assert [r[0] for r in (replies[0], replies[2])] == [0, 0]  # refused, not NOSCRIPT
    client.close()
    plain.close()


def test_async_batch_sends_no_script_exists_and_survives_a_flush(redis_url: str) -> None:
    async def body() -> None:
        client = AsyncRouterClient.from_url(redis_url)
        plain = redis.Redis.from_url(redis_url, decode_responses=True)
        await client.run(_one(Script("cancel", ("warm", "up"))))
        before = _script_exists_calls(plain)
        for _ in range(5):
            await client.run(_one(_batch()))
        assert _script_exists_calls(plain) == before
        plain.script_flush()
        replies = await client.run(_one(_batch()))
        assert [r[0] for r in (replies[0], replies[2])] == [0, 0]
        await client.close()
        plain.close()

    asyncio.run(body())


def _one(step):  # type: ignore[no-untyped-def]
    return (yield step)
