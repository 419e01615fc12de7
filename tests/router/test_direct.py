"""router.direct.DirectPipeline: steps on a held connection with the same replies, errors,
script reloads and reconnection as `RouterClient.execute_many` / `execute`."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from router.client import RouterClient
from router.direct import DirectPipeline
from router.durable import Durability
from router.ops import Batch, Script, cmd


@pytest.fixture
def client(redis_url: str) -> Iterator[RouterClient]:
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


def test_execute_gives_the_reply_or_raises_as_the_client_does(client: RouterClient) -> None:
    direct = DirectPipeline(client)
    assert direct.execute(Batch((cmd("SET", "a", "1"), cmd("INCR", "a")))) == [True, 2]
    client.redis.set("text", "abc")
    with pytest.raises(redis.ResponseError):
        direct.execute(Batch((cmd("INCR", "n"), cmd("INCR", "text"))))
    with pytest.raises(redis.ResponseError):
        client.execute(Batch((cmd("INCR", "n"), cmd("INCR", "text"))))


def test_a_blocking_read_in_a_pipeline_is_followed_by_the_next_command(
    client: RouterClient,
) -> None:
    """The worker reads its work with BLOCK and the agent feed in the same pipeline: Redis
    runs the second once the first returns (here: timed out, nothing to read)."""
    client.redis.xgroup_create("s", "g", id="0", mkstream=True)
    client.redis.xadd("feed", {"k": "v"})
    replies = DirectPipeline(client).execute(
        Batch(
            (
                cmd("XREADGROUP", "GROUP", "g", "me", "COUNT", 10, "BLOCK", 5, "STREAMS", "s", ">"),
                cmd("XREAD", "COUNT", 10, "STREAMS", "feed", "0-0"),
            )
        )
    )
    assert not replies[0]
    assert replies[1][0][1][0][1] == {"k": "v"}


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
    assert direct.execute(cmd("SET", "before", "1")) is True
    client.redis.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
    assert direct.execute(cmd("INCR", "after")) == 1


def test_at_most_size_connections_are_held_then_the_client_does_it(
    client: RouterClient,
) -> None:
    direct = DirectPipeline(client, size=1)
    busy = direct._take()  # the one connection, in use by another thread's round trip
    assert direct.execute_many([cmd("PING")]) is None
    assert direct.execute(cmd("INCR", "k")) == 1  # through the client's pool instead
    direct._idle.append(busy)
    assert direct.execute_many([cmd("PING")]) == [True]
    assert direct._held == 1


def test_a_step_waiting_for_replicas_goes_the_clients_way(redis_url: str) -> None:
    """Durability: an acknowledged script waits for the replicas - the held connection
    does not skip that wait (it leaves the step to the client)."""
    client = RouterClient.from_url(redis_url, durability=Durability(replicas=1, timeout_ms=10))
    try:
        direct = DirectPipeline(client, size=1)
        step = Script("accept", ("no-such-offer", "a", 60_000))
        assert client.wants_confirmation(step)
        waited: list[Any] = []
        real = client.execute

        def execute(s: Any) -> Any:
            waited.append(s)
            return real(s)

        client.execute = execute  # type: ignore[method-assign]
        with contextlib.suppress(Exception):  # whatever the wait ends with: the client's
            direct.execute(step)
        assert waited == [step]
        assert direct._held == 0  # never took a connection for it
    finally:
        client.close()


def test_redis_gone_gives_every_step_the_error() -> None:
    direct = DirectPipeline(RouterClient.from_url("redis://127.0.0.1:1/0"))
    replies = direct.execute_many([cmd("PING"), cmd("PING")])
    assert replies is not None and all(isinstance(r, redis.ConnectionError) for r in replies)
    assert direct.execute_many([cmd("PING")]) is not None  # the connection was given back
    with pytest.raises(redis.ConnectionError):
        direct.execute(cmd("PING"))


def test_raw_replies_are_the_connections_without_the_callbacks(client: RouterClient) -> None:
    """``raw``: what redis-py's callback (XREAD's, here) would have been given; commands
    without a callback reply the same either way."""
    client.redis.xadd("s", {"a": "1", "b": "2"})
    read = cmd("XREAD", "COUNT", 5, "STREAMS", "s", "0-0")
    steps = [read, cmd("XLEN", "s"), cmd("XREAD", "COUNT", 5, "STREAMS", "s", "$")]
    direct = DirectPipeline(client)
    parsed = direct.execute_many(steps)
    raw = direct.execute_many(steps, raw=True)
    assert parsed is not None and raw is not None
    entry_id = parsed[0][0][1][0][0]
    assert raw == [{"s": [[entry_id, ["a", "1", "b", "2"]]]}, 1, None]
    callback = client.redis.response_callbacks["XREAD"]
    assert [callback(raw[0]), raw[1], callback(raw[2])] == parsed
    assert direct.execute(read, raw=True) == raw[0]
