"""The feed echo of a worker's own reservation: skipped when the worker's view holds what
it says already (the reservation counted, nothing else changed the agent since), applied
when anything else changed the agent in between. Real redis-server, the worker's view."""

from __future__ import annotations

from router_harness import Router

from router.client import new_id
from router.model import Channel
from router.ops import Script


def _reserve(router: Router, rid: str, aid: str) -> str:
    """``rid`` reserved on ``aid`` as a worker's batch does it; returns the feed entry id."""
    c = router.client
    deadline = router.clock() + 60_000
    args = (7, 60, rid, aid, new_id(), deadline, '["general"]', 0, "r", 0, "")
    ((won, _offer, entry_id),) = c.execute(Script("reserve_batch", args))
    assert int(won) == 1
    return str(entry_id)


def _load(router: Router, aid: str) -> tuple[int, int]:
    """(chat load, busy) of ``aid`` in the worker's view; asserts Redis has the same."""
    mine = router.worker.view.agents.get(aid)
    truth = router.client.agent(aid)
    assert mine is not None and truth is not None
    assert (mine.load.get("chat", 0), mine.busy) == (truth.load.get("chat", 0), truth.busy)
    assert mine.status is truth.status
    return mine.load.get("chat", 0), mine.busy


def test_the_echoes_of_a_workers_own_offers_are_skipped(router: Router) -> None:
    c = router.client
    router.agent("alice", chat=3)
    router.drain()
    for i in range(2):
        c.submit("chat", "general", f"u{i}")
    router.drain()
    assert router.worker.stats.offers == 2
    assert router.worker.stats.echoes_skipped == 2
    assert _load(router, "alice") == (2, 2)


def test_an_echo_after_another_change_of_the_agent_is_applied(router: Router) -> None:
    """The view counted a pick; before the reservation, something else changed the agent
    (its entry comes first in the feed and replaces the counted state): the echo is
    applied, and the view ends where Redis is."""
    c = router.client
    view = router.worker.view
    router.agent("alice", chat=3)
    router.drain()
    view.sync()
    rid = c.submit("chat", "general", "u1").request_id
    run = view.optimistic("alice", Channel.CHAT, router.clock())
    assert c.set_status("alice", "away") and c.set_status("alice", "available")
    view.expect_echo(_reserve(router, rid, "alice"), "alice", run)
    view.sync()
    assert router.worker.stats.echoes_skipped == 0
    assert _load(router, "alice") == (1, 1)


def test_an_echo_counted_in_an_earlier_run_is_applied(router: Router) -> None:
    """A pick counted, the agent's state replaced from the feed, another pick counted (a
    new run that does not hold the first pick): the first pick's echo is applied."""
    c = router.client
    view = router.worker.view
    router.agent("alice", chat=3)
    router.drain()
    view.sync()
    first, second = (c.submit("chat", "general", f"u{i}").request_id for i in range(2))
    run = view.optimistic("alice", Channel.CHAT, router.clock())
    assert c.set_status("alice", "away") and c.set_status("alice", "available")
    view.sync()  # the view learns the change: alice without the first pick
    later = view.optimistic("alice", Channel.CHAT, router.clock())
    assert later != run
    view.expect_echo(_reserve(router, first, "alice"), "alice", run)
    view.sync()
    assert router.worker.stats.echoes_skipped == 0
    assert _load(router, "alice") == (1, 1)  # the first pick, from its echo
    view.expect_echo(_reserve(router, second, "alice"), "alice", later)
    view.sync()  # the echo applied above replaced the second run's state: applied too
    assert _load(router, "alice") == (2, 2)


def test_with_a_round_robin_order_echoes_are_applied(router: Router) -> None:
    """Round robin sorts by the offer time the script set: the echo carries it."""
    c = router.client
    c.load_strategy(
        "queues: {general: {}}\ndefaults: {queue: general}\nrules:\n  - {name: rr, actions: {queue: general}, order: round_robin}\n"
    )
    router.agent("alice", chat=3)
    router.drain()
    c.submit("chat", "general", "u1")
    router.drain()
    assert router.worker.stats.offers == 1
    assert router.worker.stats.echoes_skipped == 0
    assert _load(router, "alice") == (1, 1)
    mine = router.worker.view.agents.get("alice")
    truth = c.agent("alice")
    assert mine is not None and truth is not None and mine.last_offer == truth.last_offer
