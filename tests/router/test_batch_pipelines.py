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


def test_execute_many_sends_several_steps_in_one_pipeline(redis_url: str) -> None:
    """RouterClient.execute_many (the ESL bridge's batcher): per step its reply or its own
    error, a batch's replies as a list (its first error instead), scripts Redis forgot
    loaded again."""
    client = RouterClient.from_url(redis_url)
    plain = redis.Redis.from_url(redis_url, decode_responses=True)
    plain.set("text", "abc")
    plain.script_flush()
    replies = client.execute_many(
        [
            cmd("INCR", "n"),
            _batch(),
            cmd("INCR", "text"),
            Batch((cmd("INCR", "n"), cmd("GET", "n"))),
        ]
    )
    assert replies[0] == 1
    assert [r[0] for r in (replies[1][0], replies[1][2])] == [0, 0]
    assert isinstance(replies[2], redis.ResponseError)
    assert replies[3] == [2, "2"]
    assert isinstance(
        client.execute_many([Batch((cmd("INCR", "text"), cmd("PING")))])[0], redis.ResponseError
    )
    client.close()
    plain.close()
