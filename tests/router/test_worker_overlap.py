"""What a pipelined worker does while Redis runs a batch's reservations: the next batch's
reservation arguments are made before the batch under way is waited for, and once it is
carried out one round trip reads the next batch and the agent feed, whose entries are
applied after the next reservations are sent - unless applying them could change what is
sent (a strategy change) or needs more reads (a full page)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from router_harness import CALM, Router, offered_to

from router.keys import WORK_GROUP
from router.worker import view as view_module
from router.worker.allocator import Routing
from router.worker.reservations import batch_of, decision_args, reserve_steps

PIPELINED = dataclasses.replace(CALM, pipeline_min=1, batch=2)

NEW_STRATEGY = """
queues: {general: {}}
rules:
  - {name: all, actions: {queue: general}, order: longest_idle}
"""


def _record(router: Router, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The worker's sends, view syncs (with or without a read of their own) and direct
    pipelines, in order."""
    worker = router.worker
    log: list[Any] = []
    allocator, view, direct = worker.allocator, worker.view, worker.direct
    send, sync, execute, xread = allocator.send, view.sync, direct.execute, view.redis.xread

    def sending(routing: Routing) -> None:
        log.append(("send", routing.args is not None, view.strategy.version))
        send(routing)

    def syncing(read: Any = None, *, sent: bool = False) -> set[str]:
        log.append("sync" if sent else "sync+read")
        return sync(read, sent=sent)

    def executing(step: Any, raw: bool = False) -> Any:
        log.append(tuple(item.args[0] for item in step.items))
        return execute(step, raw)

    def reading(*args: Any, **kwargs: Any) -> Any:
        log.append("XREAD alone")
        return xread(*args, **kwargs)

    monkeypatch.setattr(allocator, "send", sending)
    monkeypatch.setattr(view, "sync", syncing)
    monkeypatch.setattr(direct, "execute", executing)
    monkeypatch.setattr(view.redis, "xread", reading)
    return log


TODAYS = ["alice", "bob", "alice", "alice"]
"""Who :func:`_two_batches`' requests are offered to, by the loop before this overlap too
(the harness's default strategy; the same run of main's tree)."""


def _two_batches(router: Router, chat: int = 4) -> list[str]:
    """alice and bob; four requests, read two by two; the first batch under way."""
    c = router.client
    router.agent("alice", chat=chat)
    router.agent("bob", chat=chat)
    router.drain()
    router.worker.settings = PIPELINED
    ids = [c.submit("chat", "general", f"u{i}").request_id for i in range(4)]
    assert router.worker.step(block_ms=1) == 2
    assert router.worker._inflight is not None and router.worker._prefetched
    return ids


def test_the_next_batch_and_the_feed_come_in_one_round_trip_applied_behind_the_send(
    router: Router, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = _two_batches(router)
    log = _record(router, monkeypatch)
    assert router.worker.step(block_ms=1) == 2  # the batch read ahead
    version = router.worker.view.strategy.version
    # one pipeline (the feed's read was a round trip of its own before), then the send with
    # its arguments made while the first batch was under way, then the feed applied
    assert log == [("XREADGROUP", "XACK", "XREAD"), ("send", True, version), "sync"]
    router.drain()
    assert offered_to(router, ids) == TODAYS
    assert router.worker.stats.lost_races == 0
    for aid, load in (("alice", 3), ("bob", 1)):
        agent, seen = router.client.agent(aid), router.worker.view.agents.get(aid)
        assert agent is not None and seen is not None
        assert agent.load.get("chat") == seen.load.get("chat") == load
    assert int(router.client.redis.xpending(router.client.keys.work(), WORK_GROUP)["pending"]) == 0


def test_a_strategy_change_in_the_feed_is_applied_before_the_send(
    router: Router, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reservations carry the strategy version (as before: the one after the feed)."""
    ids = _two_batches(router)
    before = router.worker.view.strategy.version
    router.client.load_strategy(NEW_STRATEGY)
    log = _record(router, monkeypatch)
    assert router.worker.step(block_ms=1) == 2
    assert router.worker.view.strategy.version > before
    assert log[:3] == [
        ("XREADGROUP", "XACK", "XREAD"),
        "sync",
        ("send", True, router.worker.view.strategy.version),
    ]
    router.drain()
    assert all(offered_to(router, ids[:2]))


def test_a_full_page_of_the_feed_is_read_to_its_end_before_the_send(
    router: Router, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the feed holds past the page may be read only after these reservations run:
    it is read, and applied, before they are sent."""
    ids = _two_batches(router)
    monkeypatch.setattr(view_module, "FEED_READ", 1)
    log = _record(router, monkeypatch)
    assert router.worker.step(block_ms=1) == 2
    assert log[0] == ("XREADGROUP", "XACK", "XREAD")
    assert log.index("sync") < log.index(("send", True, router.worker.view.strategy.version))
    assert "XREAD alone" in log[: log.index("sync") + 2]  # the rest of the page, read
    router.drain()
    assert offered_to(router, ids) == TODAYS
    assert router.worker.stats.lost_races == 0


def test_arguments_made_ahead_are_those_made_at_the_send(router: Router) -> None:
    c = router.client
    router.agent("alice", chat=3)
    router.drain()
    ids = [c.submit("chat", "general", f"u{i}").request_id for i in range(3)]
    routing = router.worker.allocator.decide_requests(ids, {})
    picks = [(d.request, d.plan, d.candidates[0], d.trace) for d in routing.decisions]
    ahead = batch_of([decision_args(*p, routing.now) for p in picks], 7)
    at_send = reserve_steps(picks, 7, routing.now)

    def without_offer_ids(batch: Any) -> list[Any]:
        (script,) = batch.items
        args = list(script.args)
        del args[2 + 2 :: 9]  # each decision's 3rd value: its new offer id
        return [script.name, *args]

    assert without_offer_ids(ahead) == without_offer_ids(at_send)
    router.worker.allocator.prepare(routing)
    assert routing.args is not None
    router.worker.allocator.send(routing)
    router.worker.allocator.finish(routing)
    offers = [router.client.request(i).offer for i in ids]  # type: ignore[union-attr]
    assert offers == [args[2] for args in routing.args]  # the ids made ahead were sent
