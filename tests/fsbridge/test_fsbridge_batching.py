"""TickBatcher: the router steps of greenlets that ask at the same moment share one pipeline,
each greenlet gets its own reply or its own error, and a call's steps keep their order."""

from __future__ import annotations

from typing import Any

import gevent
import pytest
import redis

from esl_bridge.batching import TickBatcher
from router.client import RouterClient
from router.direct import DirectPipeline
from router.errors import RouterUnavailable
from router.ops import Batch, Op, cmd


def _op(*steps: Any) -> Op[list[Any]]:
    replies = []
    for step in steps:
        replies.append((yield step))
    return replies


@pytest.fixture
def client(redis_url: str) -> Any:
    c = RouterClient.from_url(redis_url)
    yield c
    c.close()


def test_steps_of_one_moment_go_in_one_pipeline(client: RouterClient) -> None:
    batcher = TickBatcher(client)
    jobs = [
        gevent.spawn(batcher.run, _op(cmd("INCR", f"n{i}"), Batch((cmd("INCR", f"n{i}"),))))
        for i in range(20)
    ]
    gevent.joinall(jobs, raise_error=True)
    assert [j.value for j in jobs] == [[1, [2]]] * 20
    # every first step in one pipeline, every second step in another
    assert batcher.round_trips == 2
    assert batcher.steps == 40
    assert client.redis.get("n7") == "2"


def test_a_lone_step_goes_as_before(client: RouterClient) -> None:
    batcher = TickBatcher(client)
    assert batcher.run(_op(cmd("SET", "k", "v"), cmd("GET", "k"))) == [True, "v"]
    assert batcher.round_trips == 2 and batcher.steps == 2


def test_each_greenlet_gets_its_own_error(client: RouterClient) -> None:
    client.redis.set("text", "abc")
    batcher = TickBatcher(client)
    good = gevent.spawn(batcher.run, _op(cmd("INCR", "counter")))
    bad = gevent.spawn(batcher.run, _op(cmd("INCR", "text")))
    bad_batch = gevent.spawn(batcher.run, _op(Batch((cmd("INCR", "c2"), cmd("INCR", "text")))))
    gevent.joinall([good, bad, bad_batch])
    assert good.value == [1]
    assert isinstance(bad.exception, redis.ResponseError)
    assert isinstance(bad_batch.exception, redis.ResponseError)
    assert batcher.round_trips == 1
    assert client.redis.get("c2") == "1"  # a pipeline is not a transaction: as before


def test_scripts_redis_forgot_are_loaded_again(client: RouterClient) -> None:
    client.redis.script_flush()
    batcher = TickBatcher(client)
    jobs = [gevent.spawn(batcher.run, client.ops.remove_agent(f"nobody{i}")) for i in range(3)]
    gevent.joinall(jobs, raise_error=True)
    assert batcher.round_trips == 1
    assert [j.value.ok for j in jobs] == [client.remove_agent("nobody").ok] * 3


def test_redis_gone_is_router_unavailable_for_everyone(client: RouterClient) -> None:
    dead = RouterClient.from_url("redis://127.0.0.1:1/0")
    batcher = TickBatcher(dead)
    jobs = [gevent.spawn(batcher.run, _op(cmd("PING"))) for _ in range(3)]
    gevent.joinall(jobs)
    assert all(isinstance(j.exception, RouterUnavailable) for j in jobs)
    lone = gevent.spawn(batcher.run, _op(cmd("PING")))
    lone.join()
    assert isinstance(lone.exception, RouterUnavailable)


def test_ops_of_one_greenlet_go_side_by_side_each_with_its_own_result(
    client: RouterClient,
) -> None:
    """run_all: the leftovers of several calls, written together from one greenlet."""
    client.redis.set("text", "abc")
    batcher = TickBatcher(client)
    results = batcher.run_all(
        [
            _op(cmd("INCR", "a"), cmd("INCR", "a")),
            _op(cmd("INCR", "text")),
            _op(Batch((cmd("INCR", "b"), cmd("INCR", "b")))),
            _op(),
        ]
    )
    assert results[0] == [1, 2]
    assert isinstance(results[1], redis.ResponseError)
    assert results[2] == [[1, 2]]
    assert results[3] == []
    # round 1: the first step of the three ops with steps; round 2: op 0's second step
    assert batcher.round_trips == 2 and batcher.steps == 4


def test_an_op_may_catch_the_error_of_its_step(client: RouterClient) -> None:
    client.redis.set("text", "abc")

    def careful() -> Op[str]:
        try:
            yield cmd("INCR", "text")
        except redis.ResponseError:
            return "caught"
        return "no error"

    assert TickBatcher(client).run_all([careful()]) == ["caught"]


def test_run_all_with_redis_gone_gives_each_op_the_error() -> None:
    batcher = TickBatcher(RouterClient.from_url("redis://127.0.0.1:1/0"))
    results = batcher.run_all([_op(cmd("PING")), _op(cmd("PING"))])
    assert all(isinstance(r, redis.ConnectionError) for r in results)


def test_with_every_held_connection_busy_the_steps_go_through_the_clients_pool(
    client: RouterClient,
) -> None:
    """(DirectPipeline itself: tests/router/test_direct.py.)"""
    direct = DirectPipeline(client, size=1)
    batcher = TickBatcher(client, direct)
    busy = direct._take()  # the one connection, in use by another greenlet's round trip
    assert direct.execute_many([cmd("PING")]) is None
    assert batcher.run(_op(cmd("INCR", "k"))) == [1]  # through the client's pool instead
    direct._idle.append(busy)
    assert batcher.run(_op(cmd("INCR", "k"))) == [2]
    assert direct._held == 1


def test_the_leader_waits_for_company_only_when_another_greenlet_is_due() -> None:
    from gevent.hub import get_hub

    from esl_bridge.batching import _others_run_first

    loop = get_hub().loop
    assert hasattr(loop, "_callbacks")  # gevent's; without it the leader always waits
    seen = []

    def lone() -> None:
        seen.append(_others_run_first())
        loop.run_callback(lambda: None)
        seen.append(_others_run_first())

    gevent.spawn(lone).join()
    assert seen == [False, True]
