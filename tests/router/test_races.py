"""No lost wake-ups between workers: a request that loses its agent to another worker
takes a free one, and a free agent never sits beside a waiting request for long."""

from __future__ import annotations

import dataclasses

from router.client import RouterClient
from router.keys import WORK_GROUP
from router.model import RequestState
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
