"""The worker's reads of its streams without redis-py's reply callbacks: entries in any
shape a reply may come in, fields made a dict only when read (a reservation's feed echo
is skipped without)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
from router_harness import CALM, Router

from router.client import RouterClient
from router.ops import pairs
from router.worker import view as view_module
from router.worker.view import stream_entries


@pytest.fixture
def plain(redis_url: str) -> Iterator[redis.Redis]:
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    r.xadd("s", {"type": "agent.state", "agent": "alice", "v": "3"})
    r.xadd("s", {"type": "strategy.loaded", "version": "2"})
    yield r
    r.close()


@pytest.mark.parametrize("protocol", [2, 3])
def test_every_shape_of_a_read_gives_the_same_entries(
    plain: redis.Redis, redis_url: str, protocol: int
) -> None:
    expected = [(i, dict(f)) for i, f in plain.xrange("s")]
    r = redis.Redis.from_url(redis_url, decode_responses=True, protocol=protocol)
    conn = r.connection_pool.get_connection()
    try:
        conn.send_command("XREAD", "COUNT", 10, "STREAMS", "s", "0-0")
        raw = conn.read_response()  # RESP3: {stream: entries}, RESP2: [[stream, entries]]
        conn.send_command("XREAD", "COUNT", 10, "STREAMS", "s", "$")
        empty = conn.read_response()
    finally:
        r.connection_pool.release(conn)
    r.close()
    router_redis = RouterClient.from_url(redis_url).redis  # the worker's: legacy callbacks
    parsed = router_redis.xread({"s": "0-0"}, count=10)
    for reply in (raw, parsed):
        assert [(i, pairs(f)) for i, f in stream_entries(reply)] == expected
    assert stream_entries(empty) == stream_entries(router_redis.xread({"s": "$"}, count=10)) == []
    router_redis.close()


def test_fields_of_an_entry_without_fields() -> None:
    assert pairs(None) == {} and pairs([]) == {}
    with pytest.raises(ValueError, match="shorter"):
        pairs(["type", "agent.state", "agent"])  # a field without its value


def test_echoes_are_skipped_without_their_fields_made_a_dict(
    router: Router, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = router.client
    router.agent("alice")
    router.agent("bob")
    router.worker.settings = CALM
    router.drain()
    made: list[Any] = []
    real = view_module.pairs

    def counting(fields: Any) -> dict[str, str]:
        out = real(fields)
        made.append(out.get("type"))
        return out

    monkeypatch.setattr(view_module, "pairs", counting)
    ids = [c.submit("chat", "general", f"u{i}").request_id for i in range(2)]
    router.drain()
    assert router.worker.stats.echoes_skipped == 2
    assert "agent.state" not in made  # the two echoes: skipped as lists
    assert sorted(c.request(i).agent for i in ids) == ["alice", "bob"]  # type: ignore[union-attr]
    assert c.set_status("alice", "away")
    router.drain()
    assert "agent.state" in made  # an entry the worker did not write: read
    assert router.worker.view.agents.get("alice").status.value == "away"  # type: ignore[union-attr]


def test_a_strategy_change_is_seen_in_a_raw_feed_read(plain: redis.Redis, router: Router) -> None:
    conn = plain.connection_pool.get_connection()
    try:
        conn.send_command("XREAD", "COUNT", 10, "STREAMS", "s", "0-0")
        raw = conn.read_response()
    finally:
        plain.connection_pool.release(conn)
    assert not router.worker.view.settles(raw)
    assert not router.worker.view.settles(plain.xread({"s": "0-0"}, count=10))
    plain.xdel("s", *[i for i, f in plain.xrange("s") if f["type"] == "strategy.loaded"])
    assert router.worker.view.settles(plain.xread({"s": "0-0"}, count=10))
