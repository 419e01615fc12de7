"""DirectPipeline: the bridge's router steps on connections it holds, with the same replies,
errors, script reloads and reconnection as `RouterClient.execute_many`."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from esl_bridge.batching import TickBatcher
from router.client import RouterClient
from router.direct import DirectPipeline
from router.ops import Batch, cmd


@pytest.fixture
def client(redis_url: str) -> Any:
    c = RouterClient.from_url(redis_url)
    yield c
    c.close()


def _steps(client: RouterClient) -> list[Any]:
    return [
        cmd("HSET", "h", "f", "v"),
        Batch((cmd("RPUSH", "l", "x"), cmd("HGETALL", "h"))),
        cmd("INCR", "text"),
        Batch((cmd("INCR", "n"), cmd("INCR", "text"))),
        client.ops.remove_agent("nobody").send(None),  # a script step
    ]


def test_replies_and_errors_are_those_of_the_client(client: RouterClient) -> None:
    client.redis.set("text", "abc")
    mine = DirectPipeline(client).execute_many(_steps(client))
    client.redis.flushdb()
    client.redis.set("text", "abc")
    theirs = client.execute_many(_steps(client))
    assert mine is not None
    assert [type(r) if isinstance(r, Exception) else r for r in mine] == [
        type(r) if isinstance(r, Exception) else r for r in theirs
    ]
    assert mine[1] == [1, {"f": "v"}]  # redis-py's reply callbacks applied (HGETALL: a dict)
    assert isinstance(mine[2], redis.ResponseError)


def test_scripts_redis_forgot_are_loaded_again(client: RouterClient) -> None:
    direct = DirectPipeline(client)
    step = client.ops.remove_agent("nobody").send(None)
    first = direct.execute_many([step])
    client.redis.script_flush()
    again = direct.execute_many([step])
    assert first == again and not isinstance(first[0], Exception)  # type: ignore[index]


def test_a_broken_connection_is_reconnected_and_the_step_sent_again(
    client: RouterClient,
) -> None:
    direct = DirectPipeline(client, size=1)
    assert direct.execute_many([cmd("SET", "before", "1")]) == [True]
    client.redis.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
    assert direct.execute_many([cmd("INCR", "after")]) == [1]


def test_at_most_size_connections_are_held_then_the_client_does_it(
    client: RouterClient,
) -> None:
    direct = DirectPipeline(client, size=1)
    batcher = TickBatcher(client, direct)
    busy = direct._take()  # the one connection, in use by another greenlet's round trip
    assert direct.execute_many([cmd("PING")]) is None
    assert batcher.run(_one(cmd("INCR", "k"))) == 1  # through the client's pool instead
    direct._idle.append(busy)
    assert direct.execute_many([cmd("PING")]) == [True]
    assert direct._held == 1


def test_redis_gone_gives_every_step_the_error() -> None:
    direct = DirectPipeline(RouterClient.from_url("redis://127.0.0.1:1/0"))
    replies = direct.execute_many([cmd("PING"), cmd("PING")])
    assert replies is not None and all(isinstance(r, redis.ConnectionError) for r in replies)
    assert direct.execute_many([cmd("PING")]) is not None  # the connection was given back


def _one(step: Any) -> Any:
    return (yield step)
