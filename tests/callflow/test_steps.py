"""Router operations combined into one round trip (the call book's writes with the op)."""

from __future__ import annotations

import asyncio

import pytest

from callflow.steps import captured, step, together
from router.client import AsyncRouterClient
from router.errors import NotFound
from router.ops import cmd


def test_together_sends_ops_in_one_pipeline_in_order(redis_url: str) -> None:
    """The call book's write and a router operation share a round trip; the write runs
    first; a failing op (unknown session) does not hide the others."""

    async def body() -> None:
        client = AsyncRouterClient.from_url(redis_url)
        sub = client.ops.submit(channel="chat", service="booking", user_id="u1", request_id="r1")
        write = step(cmd("HSET", "book", "c1", "filed-first"))
        read = step(cmd("HGET", "book", "c1"))
        written, submitted, seen = await client.run(together(write, sub, read))
        assert written == 1
        assert submitted.request_id == "r1"
        assert seen == "filed-first"
        appended, missing = await client.run(
            together(
                captured(client.ops.append(submitted.session_id, {"type": "note", "text": "x"})),
                captured(client.ops.append("no-such-session", {"type": "note", "text": "y"})),
            )
        )
        assert not appended.duplicate
        assert isinstance(missing, NotFound)
        entries = await client.transcript(submitted.session_id)
        assert [e["text"] for e in entries if e["type"] == "note"] == ["x"]
        with pytest.raises(NotFound):
            await client.run(together(client.ops.append("no-such-session", {"type": "n"})))
        await client.close()

    asyncio.run(body())


def test_an_op_that_batches_itself_shares_the_round_trip(redis_url: str) -> None:
    """`session_requests` reads its requests in one batch: spliced into the same pipeline,
    it gets its own slice of the replies (as a call flow's pending writes go with it)."""
    from router.client import RouterClient

    client = RouterClient.from_url(redis_url)
    a = client.submit(channel="chat", service="booking", user_id="u2", request_id="ra")
    client.submit(channel="chat", service="booking", user_id="u2", request_id="rb")
    write = step(cmd("SET", "marker", "1"))
    done, requests = client.run(together(write, client.ops.session_requests(a.session_id)))
    assert done is True
    assert sorted(r.id for r in requests) == ["ra", "rb"]
    client.close()


def test_a_later_op_goes_after_the_notes_with_the_calls_next_step(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """`Later`: nothing waits for it. With the driver's `Deferred` it stays there (after
    the flow's transcript entries) until the call's next router step carries it, in the
    same round trip and in front of it; a failing one is logged, not raised, and does not
    fail that step. Without a `Deferred` it goes at the flow's end."""
    from typing import Any, cast

    from callflow.context import FlowContext, logged
    from callflow.drive import Deferred, run_sync
    from callflow.records import CallBook
    from callflow.steps import Ask, Later, Note
    from router.client import RouterClient

    client = RouterClient.from_url(redis_url)
    sub = client.submit(channel="chat", service="booking", user_id="u3", request_id="rl")
    ctx = FlowContext("fs1", cast(Any, None), client.ops, CallBook("book"), str, True, lambda: 0)
    round_trips: list[Any] = []

    def run_op(op: Any) -> Any:
        round_trips.append(op)
        return client.run(op)

    def no_pbx(intent: Any) -> Any:
        raise AssertionError(f"no PBX intent expected: {intent}")

    def ended(marker: str) -> Any:
        yield Note(sub.session_id, {"type": "note", "text": marker}, "")
        yield Later(logged("push", step(cmd("RPUSH", "later", marker))), "push")
        yield Later(logged("append", client.ops.append("no-such-session", {"type": "n"})), "x")

    seen: list[Any] = []

    def next_step() -> Any:
        seen.append((yield Ask(step(cmd("LRANGE", "later", 0, -1)), "read")))

    deferred = Deferred()
    run_sync(ended("a"), ctx, run_op, no_pbx, deferred, "c1")
    assert not round_trips and deferred.pending_keys() == ["c1"]
    assert client.redis.llen("later") == 0
    with caplog.at_level("ERROR", logger="implus.callflow"):
        run_sync(next_step(), ctx, run_op, no_pbx, deferred, "c1")
    assert len(round_trips) == 1 and seen == [["a"]] and not deferred
    assert "router call append failed" in caplog.text
    notes = [e["text"] for e in client.transcript(sub.session_id) if e["type"] == "note"]
    assert notes == ["a"]
    run_sync(ended("b"), ctx, run_op, no_pbx, None, "c2")  # no Deferred: at the end
    assert len(round_trips) == 2 and client.redis.lrange("later", 0, -1) == ["a", "b"]
    client.close()
