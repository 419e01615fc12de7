"""`AsyncRouterClient.run_batched`: the operations of one event-loop tick share one pipeline,
and each caller still gets exactly its own replies and its own errors (real redis-server)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis

from router.client import AsyncRouterClient
from router.client.batching import TickBatcher
from router.errors import NotFound, RouterUnavailable
from router.model import AgentProfile
from router.ops import Batch, cmd

pytestmark = [pytest.mark.redis]


def _one(step):  # type: ignore[no-untyped-def]
    return (yield step)


def _pipelines(r: redis.Redis) -> int:
    """Round trips redis-server answered so far (each pipeline is one read of many)."""
    return int(r.info("stats")["total_commands_processed"])


def test_one_tick_one_pipeline_each_caller_its_replies(redis_url: str, rds: redis.Redis) -> None:
    async def body() -> tuple[list[Any], int, int]:
        client = AsyncRouterClient.from_url(redis_url)
        await client.run_batched(_one(cmd("PING")))  # connected, scripts not needed
        before = client.batcher.pipelines
        ops = [client.run_batched(_one(cmd("SET", f"k{i}", str(i)))) for i in range(20)] + [
            client.run_batched(_one(Batch((cmd("INCR", "n"), cmd("GET", f"k{i}")))))
            for i in range(5)
        ]
        replies = await asyncio.gather(*ops)
        sent = client.batcher.pipelines - before
        await client.close()
        return replies, sent, len(ops)

    replies, sent, count = asyncio.run(body())
    assert sent == 1 < count
    assert replies[:20] == [True] * 20
    # the batches ran after every SET of the same tick, in submission order
    assert replies[20:] == [[1, "0"], [2, "1"], [3, "2"], [4, "3"], [5, "4"]]
    assert rds.get("n") == "5"


def test_an_error_stays_with_its_own_caller(redis_url: str, rds: redis.Redis) -> None:
    rds.set("text", "not a number")

    async def body() -> list[Any]:
        client = AsyncRouterClient.from_url(redis_url)
        results = await asyncio.gather(
            client.run_batched(_one(cmd("INCR", "text"))),  # WRONGTYPE-like error
            client.run_batched(_one(Batch((cmd("SET", "a", "1"), cmd("INCR", "text"))))),
            client.run_batched(_one(cmd("SET", "b", "2"))),
            client.run_batched(client.ops.agent("nobody")),  # a router op: None, no error
            return_exceptions=True,
        )
        await client.close()
        return results

    first, batch, plain, agent = asyncio.run(body())
    assert isinstance(first, redis.ResponseError)
    assert isinstance(batch, redis.ResponseError)  # a batch raises its first error
    assert plain is True and agent is None
    assert rds.get("a") == "1" and rds.get("b") == "2"  # the others' writes went through


def test_router_operations_batched_and_a_forgotten_script(redis_url: str, rds: redis.Redis) -> None:
    async def body() -> tuple[list[Any], Any]:
        client = AsyncRouterClient.from_url(redis_url)
        await client.run(client.ops.upsert_agent(AgentProfile(id="ann", skills={"x": 1})))
        rds.script_flush()  # Redis restarted / SCRIPT FLUSH: every script is reloaded
        beats = await asyncio.gather(
            *(
                client.run_batched(client.ops.heartbeat("ann", source="sip", ttl=30, device=d))
                for d in ("busy", "available")
            ),
            client.run_batched(client.ops.heartbeat("nobody", source="sip", ttl=30, device="busy")),
            return_exceptions=True,
        )
        agent = await client.run_batched(client.ops.agent("ann"))
        await client.close()
        return beats, agent

    beats, agent = asyncio.run(body())
    assert beats[0] is True and isinstance(beats[2], NotFound)
    assert agent is not None and agent.devices.get("sip") == "available"  # in order


def test_a_dead_redis_fails_every_step_of_the_pipeline(redis_url: str) -> None:
    async def body() -> list[Any]:
        client = AsyncRouterClient.from_url("redis://127.0.0.1:1/0")
        results = await asyncio.gather(
            *(client.run_batched(_one(cmd("PING"))) for _ in range(3)), return_exceptions=True
        )
        await client.close()
        return results

    results = asyncio.run(body())
    assert len(results) == 3
    assert all(isinstance(r, Exception) for r in results)


def test_steps_that_come_while_a_pipeline_is_under_way_go_out_together_after_it(
    redis_url: str, rds: redis.Redis
) -> None:
    async def body() -> tuple[list[int], list[Any]]:
        client = AsyncRouterClient.from_url(redis_url)
        sizes: list[int] = []
        release = asyncio.Event()
        send = client._send_batch

        async def slow_send(batch: Batch) -> list[Any]:  # Redis answering slowly
            sizes.append(len(batch.items))
            if len(sizes) == 1:
                await release.wait()
            return await send(batch)

        client.batcher = TickBatcher(slow_send)
        first = asyncio.ensure_future(client.run_batched(_one(cmd("INCR", "n"))))
        await asyncio.sleep(0.01)  # the first pipeline is under way
        later = []
        for _ in range(3):  # three later ticks
            later.append(asyncio.ensure_future(client.run_batched(_one(cmd("INCR", "n")))))
            await asyncio.sleep(0.01)
        assert sizes == [1]  # they wait for the one under way
        release.set()
        replies = await asyncio.gather(first, *later)
        await client.close()
        return sizes, replies

    sizes, replies = asyncio.run(body())
    assert sizes == [1, 3]  # then go out as one pipeline
    assert replies == [1, 2, 3, 4]  # in submission order
    assert rds.get("n") == "4"


def test_a_pipeline_without_reply_fails_its_steps_and_frees_the_way(
    redis_url: str, rds: redis.Redis
) -> None:
    async def body() -> tuple[list[Any], Any]:
        client = AsyncRouterClient.from_url(redis_url)
        send = client._send_batch
        calls = 0

        async def half_open(batch: Batch) -> list[Any]:  # the first pipeline never returns
            nonlocal calls
            calls += 1
            if calls == 1:
                await asyncio.Event().wait()
            return await send(batch)

        client.batcher = TickBatcher(half_open, timeout_s=0.3)
        stuck = asyncio.ensure_future(client.run_batched(_one(cmd("INCR", "n"))))
        await asyncio.sleep(0.05)
        waiting = asyncio.ensure_future(client.run_batched(_one(cmd("INCR", "m"))))
        results = await asyncio.gather(stuck, waiting, return_exceptions=True)
        after = await client.run_batched(_one(cmd("INCR", "m")))
        await client.close()
        return results, after

    (stuck, waiting), after = asyncio.run(body())
    assert isinstance(stuck, RouterUnavailable) and "did not answer" in str(stuck)
    assert waiting == 1 and after == 2  # the steps behind it went out once it failed
