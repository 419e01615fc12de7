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
