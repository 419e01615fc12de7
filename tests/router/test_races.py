"""No lost wake-ups between workers: a request that loses its agent to another worker
takes a free one, and a free agent never sits beside a waiting request for long."""

from __future__ import annotations

import dataclasses

from router.client import RouterClient
from router.keys import WORK_GROUP
from router.model import AgentState, RequestState
from router.worker import Worker

STRATEGY = """
defaults: {queue: general, offer_timeout: 60, wrapup: {voice: 0, chat: 0}}
queues: {general: {}}
rules:
  - {name: all, actions: {queue: general}, order: longest_idle}
"""


def test_a_request_that_loses_its_agent_to_another_worker_takes_a_free_one(router, redis_url):
    c = router.client
    c.load_strategy(STRATEGY)
    router.agent("xavier", chat=1)  # idle the longest: every worker's first choice
    router.clock.advance(1)
    router.agent("yvonne", chat=1)
    router.drain()
    other = Worker(RouterClient.from_url(redis_url, clock=router.clock), name="other")
    other.start()
    first = c.submit("chat", "general", "u1")
    assert other.step(block_ms=1) >= 1
    assert c.request(first.request_id).agent == "xavier"
    # Our worker has not read the agent feed yet: its view still shows xavier free.
    second = c.submit("chat", "general", "u2")
    router.worker.allocator.route_requests([second.request_id])
    request = c.request(second.request_id)
    assert request.state is RequestState.OFFERED and request.agent == "yvonne", request
    assert router.worker.stats.lost_races == 1
    other.client.close()


def test_the_sweep_matches_a_free_agent_and_a_request_no_event_brought_together(router):
    c = router.client
    c.load_strategy(STRATEGY)
    waiting = c.submit("chat", "general", "u1")
    router.drain()
    assert c.request(waiting.request_id).state is RequestState.QUEUED
    router.agent("zoe", chat=2)
    # The wake-up is lost: the work items about zoe are skipped (a worker that read them
    # and died after acknowledging them would do the same).
    c.redis.xgroup_setid(c.keys.work(), WORK_GROUP, "$")
    worker = router.worker
    worker.settings = dataclasses.replace(worker.settings, sweep_interval_s=0)
    router.drain()
    assert c.request(waiting.request_id).state is RequestState.QUEUED  # without the sweep
    worker.settings = dataclasses.replace(worker.settings, sweep_interval_s=0.001)
    worker.housekeeping.next_due.pop("sweep", None)
    router.drain()
    request = c.request(waiting.request_id)
    assert request.state is RequestState.OFFERED and request.agent == "zoe"
    assert worker.stats.sweeps == 1


def test_a_free_agent_that_loses_a_request_mid_batch_takes_the_next_one(router):
    """The agent side reserves a burst of matches in one batch; a request that moved on
    between the read of the queue heads and the batch (here: the customer hung up) fails
    alone, the agent's other match holds, and the agent looks once more at fresh heads."""
    c = router.client
    c.load_strategy(STRATEGY)
    subs = []
    for i in range(3):  # filed one after the other: the line's order is theirs
        subs.append(c.submit("chat", "general", f"u{i}"))
        router.clock.advance(1)
    router.drain()  # nobody is free: all three wait
    router.agent("zoe", chat=2)
    allocator = router.worker.allocator
    read = allocator.read_requests
    hung_up: list[str] = []

    def read_then_hang_up(ids):  # type: ignore[no-untyped-def]
        requests = read(ids)
        if not hung_up:  # the first read only: the retry reads the queues afresh
            hung_up.append(subs[0].request_id)
            assert c.cancel(subs[0].request_id).ok
        return requests

    allocator.read_requests = read_then_hang_up  # type: ignore[method-assign]
    allocator.serve_agents(["zoe"])
    states = [c.request(s.request_id) for s in subs]
    assert states[0].state is not RequestState.OFFERED
    assert [(r.state, r.agent) for r in states[1:]] == [(RequestState.OFFERED, "zoe")] * 2
    assert router.worker.stats.lost_races == 1
    assert c.agent("zoe").load == {"chat": 2}


def test_a_free_agent_finds_a_request_left_in_a_queue_the_strategy_dropped(router):
    """The agent side reads the strategy's queues with the agents in one round trip, and
    the queues that still hold requests but the strategy no longer names in a second."""
    c = router.client
    c.load_strategy(STRATEGY.replace("general", "old"))
    waiting = c.submit("chat", "general", "u1")
    router.drain()
    assert c.request(waiting.request_id).queues == ("old",)
    c.load_strategy(STRATEGY)
    c.redis.xgroup_setid(c.keys.work(), WORK_GROUP, "$")  # the reroute is not run
    router.worker.view.sync()
    assert "old" not in router.worker.view.strategy.queue_names
    router.agent("zoe", chat=1)
    router.worker.allocator.serve_agents(["zoe"])
    request = c.request(waiting.request_id)
    assert request.state is RequestState.OFFERED and request.agent == "zoe"


def test_free_agents_with_nothing_waiting_cost_no_parsing_and_still_serve_later(
    router, monkeypatch
):
    """Agents becoming free while no request waits (every queue and pinned list empty) are
    not parsed (the agent feed keeps the view); a request filed later is still served."""
    c = router.client
    c.load_strategy(STRATEGY)
    router.agent("zoe", chat=1)
    router.drain()
    parsed: list[str] = []
    from_hash = AgentState.from_hash

    def counting(h):  # type: ignore[no-untyped-def]
        parsed.append(h.get("id", ""))
        return from_hash(h)

    monkeypatch.setattr(AgentState, "from_hash", staticmethod(counting))
    router.worker.allocator.serve_agents(["zoe"])
    assert parsed == []
    c.set_status("zoe", "away")
    waiting = c.submit("chat", "general", "u1")
    router.drain()  # nobody is free: it waits in its queue
    c.set_status("zoe", "available")
    c.redis.xgroup_setid(c.keys.work(), WORK_GROUP, "$")  # zoe's own wake-up is not run
    router.worker.allocator.serve_agents(["zoe"])
    assert parsed == ["zoe"]
    request = c.request(waiting.request_id)
    assert request.state is RequestState.OFFERED and request.agent == "zoe"
