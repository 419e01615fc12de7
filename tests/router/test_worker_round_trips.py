"""The round trips of one worker round: the acknowledgement of the last batch, the read of
the next one and the agent feed share one pipeline; nothing is acknowledged before it is
carried out."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from redis.connection import AbstractConnection
from router_harness import CALM, Router

from router.keys import WORK_GROUP
from router.model import RequestState
from router.worker import view as view_module


def _pending(r: Router) -> int:
    return int(r.client.redis.xpending(r.client.keys.work(), WORK_GROUP)["pending"])


@contextmanager
def _round_trips(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Counts what is sent to Redis meanwhile: one send per command or whole pipeline."""
    sent = [0]
    real = AbstractConnection.send_packed_command

    def counting(self: AbstractConnection, command: Any, check_health: bool = True) -> None:
        sent[0] += 1
        real(self, command, check_health)

    with monkeypatch.context() as m:
        m.setattr(AbstractConnection, "send_packed_command", counting)
        yield sent


def test_a_round_with_one_request_costs_two_round_trips(
    router: Router, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The read pipeline (XREADGROUP + XACK + the feed's XREAD) and the reservation: the
    loop before made four (feed sync, read, feed sync, reservation) and a fifth, the XACK."""
    c = router.client
    router.agent("alice")
    router.worker.settings = CALM
    router.drain()
    c.submit("chat", "general", "u0")
    assert router.worker.step(block_ms=1) == 1  # (Redis learns the scripts)
    rid = c.submit("chat", "general", "u1").request_id
    with _round_trips(monkeypatch) as sent:
        assert router.worker.step(block_ms=1) == 1
    assert sent[0] == 2
    req = c.request(rid)
    assert req is not None and req.state is RequestState.OFFERED and req.agent == "alice"
    # u0's item was acknowledged with this round's read; u1's waits for the next round's
    assert _pending(router) == 1
    with _round_trips(monkeypatch) as sent:
        assert router.worker.step(block_ms=1) == 0
    assert sent[0] == 1  # an idle round: its read carried the acknowledgement
    assert _pending(router) == 0


def test_an_item_is_not_acknowledged_before_its_reservation_is_carried_out(
    router: Router,
) -> None:
    c = router.client
    router.agent("alice")
    router.worker.settings = CALM
    router.drain()
    allocator = router.worker.allocator
    real = allocator._reserve_batch
    seen: list[int] = []

    def reserve(*args: Any, **kwargs: Any) -> Any:
        seen.append(_pending(router))
        return real(*args, **kwargs)

    allocator._reserve_batch = reserve  # type: ignore[method-assign]
    rid = c.submit("chat", "general", "u1").request_id
    assert router.worker.step(block_ms=1) == 1
    assert seen == [1]  # still pending while its reservation runs
    assert _pending(router) == 1  # a worker dying now leaves it to another
    assert router.worker.step(block_ms=1) == 0
    assert _pending(router) == 0
    req = c.request(rid)
    assert req is not None and req.state is RequestState.OFFERED


def test_a_waiting_request_is_acknowledged_only_after_it_is_enqueued(router: Router) -> None:
    c = router.client
    router.worker.settings = CALM
    router.drain()
    rid = c.submit("chat", "general", "u1").request_id  # nobody to take it: it waits
    assert router.worker.step(block_ms=1) == 1
    req = c.request(rid)
    assert req is not None and req.queues == ("general",)
    assert _pending(router) == 1
    router.drain()
    assert _pending(router) == 0


def test_the_feed_read_with_the_work_is_applied_before_the_batch_is_decided(
    router: Router,
) -> None:
    """An agent who went away between two rounds is not offered the request read in the
    next round: the feed entry came in the same pipeline as the work item."""
    c = router.client
    router.agent("alice")
    router.agent("bob")
    router.worker.settings = CALM
    router.drain()
    assert c.set_status("alice", "away")
    assert c.set_status("bob", "away")
    rid = c.submit("chat", "general", "u1").request_id
    assert router.worker.step(block_ms=1) == 1
    req = c.request(rid)
    assert req is not None and req.state is RequestState.QUEUED
    assert router.worker.stats.lost_races == 0  # the view knew: no reservation was tried


def test_a_long_feed_is_read_to_its_end_after_the_piped_read(
    router: Router, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = router.client
    for aid in ("alice", "bob", "carol"):
        router.agent(aid)
    router.worker.settings = CALM
    router.drain()
    monkeypatch.setattr(view_module, "FEED_READ", 2)
    for aid in ("alice", "bob", "carol"):
        assert c.set_status(aid, "away")
    router.worker.step(block_ms=1)
    view = router.worker.view.agents
    assert [view.get(a).status.value for a in ("alice", "bob", "carol")] == ["away"] * 3  # type: ignore[union-attr]


def _one_offered_not_acknowledged(router: Router) -> None:
    """alice offered u1's request in a round whose work item is not acknowledged yet."""
    router.agent("alice")
    router.worker.settings = CALM
    router.drain()
    router.client.submit("chat", "general", "u1")
    assert router.worker.step(block_ms=1) == 1
    assert _pending(router) == 1


def test_stopping_acknowledges_what_was_carried_out(router: Router) -> None:
    _one_offered_not_acknowledged(router)
    router.worker.stop()
    router.worker.run()  # stopped already: straight to the end of its loop
    assert _pending(router) == 0


def test_the_acknowledgement_follows_the_read_in_its_pipeline(
    router: Router, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A round's read waits (BLOCK) for work with the last round's XACK behind it: Redis
    holds that XACK until the read returns and sends both replies in one write, so the
    worker wakes once per round (an XACK in front would be answered at once, on its own)."""
    _one_offered_not_acknowledged(router)
    direct = router.worker.direct
    real = direct.execute
    sent: list[list[str]] = []

    def recording(step: Any, raw: bool = False) -> Any:
        sent.append([item.args[0] for item in step.items])
        return real(step, raw)

    monkeypatch.setattr(direct, "execute", recording)
    assert router.worker.step(block_ms=5) == 0
    assert sent == [["XREADGROUP", "XACK", "XREAD"]]
    assert _pending(router) == 0
