"""The pipelined worker loop: a batch's reservations are sent without waiting, the next
batch is decided meanwhile, and nothing is acknowledged before it is carried out."""

from __future__ import annotations

import dataclasses
import threading

from router_harness import QUIET, Router, offered_to

from router.keys import WORK_GROUP
from router.model import RequestState
from router.worker import Worker

PIPELINED = dataclasses.replace(QUIET, pipeline_min=1, batch=2)


def _pending(r: Router) -> int:
    return int(r.client.redis.xpending(r.client.keys.work(), WORK_GROUP)["pending"])


def test_a_batch_under_way_is_acknowledged_only_once_carried_out(router: Router) -> None:
    c = router.client
    router.agent("alice")
    router.agent("bob")
    router.drain()
    router.worker.settings = PIPELINED
    ids = [c.submit("chat", "general", f"u{i}").request_id for i in range(2)]
    assert router.worker.step(block_ms=1) == 2
    assert router.worker._inflight is not None  # sent, not waited for
    assert _pending(router) == 2  # a worker dying now leaves them to another
    assert router.worker.step(block_ms=1) == 0  # nothing new: the batch is carried out
    assert router.worker._inflight is None
    assert _pending(router) == 0
    assert sorted(offered_to(router, ids)) == ["alice", "bob"]


def test_the_next_batch_counts_the_reservations_under_way(router: Router) -> None:
    """Batch 2 is decided while batch 1's reservations run, and after them the feed brings
    states that do not have batch 2's picks: no agent is picked over its capacity and no
    race is lost (one worker)."""
    c = router.client
    router.agent("alice", chat=2)
    router.agent("bob", chat=2)
    router.drain()
    router.worker.settings = PIPELINED
    ids = [c.submit("chat", "general", f"u{i}").request_id for i in range(6)]
    router.drain()
    offered = offered_to(router, ids)
    assert sorted(offered) == ["", "", "alice", "alice", "bob", "bob"]
    assert router.worker.stats.lost_races == 0
    for aid in ("alice", "bob"):
        agent = c.agent(aid)
        assert agent is not None and agent.load.get("chat") == 2
    assert _pending(router) == 0
    # the two left over wait in their queue and go to the first agent freed
    waiting = [rid for rid, a in zip(ids, offered, strict=True) if not a]
    assert all(c.request(rid).state is RequestState.QUEUED for rid in waiting)  # type: ignore[union-attr]
    first = c.request(ids[0])
    assert first is not None and c.accept(first.offer, first.agent).ok
    assert c.complete(ids[0]).ok
    router.drain()
    assert offered_to(router, waiting).count(first.agent) == 1


def test_a_lost_race_under_way_is_corrected(router: Router) -> None:
    """The agent picked in the batch under way went away meanwhile: its reply is a
    refusal, the view learns it, and the request goes to the next agent."""
    c = router.client
    router.agent("alice")
    router.agent("bob")
    router.drain()
    router.worker.settings = PIPELINED
    rid = c.submit("chat", "general", "u1").request_id
    worker = router.worker
    entries = c.redis.xreadgroup(WORK_GROUP, worker.name, {c.keys.work(): ">"}, count=2)[0][1]
    routing = worker.allocator.decide_requests([rid], {})
    chosen = routing.decisions[0].candidates[0]
    assert c.set_status(chosen, "away")  # before the reservation runs
    worker.allocator.send(routing)
    worker._inflight = (routing, [e[0] for e in entries])
    worker.flush()
    assert worker.stats.lost_races == 1
    req = c.request(rid)
    assert req is not None and req.state is RequestState.OFFERED and req.agent != chosen


def test_stopping_carries_out_the_batch_under_way(router: Router) -> None:
    c = router.client
    for aid in ("alice", "bob", "carol"):
        router.agent(aid)
    router.drain()
    worker = Worker(c, name="piped", settings=dataclasses.replace(PIPELINED, block_ms=5))
    worker.start()
    ids = [c.submit("chat", "general", f"u{i}").request_id for i in range(3)]
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        for _ in range(500):
            if all(offered_to(router, ids)):
                break
            threading.Event().wait(0.01)
    finally:
        worker.stop()
        thread.join(10)
    assert not thread.is_alive()
    assert sorted(offered_to(router, ids)) == ["alice", "bob", "carol"]
    assert _pending(router) == 0


def test_the_next_batch_is_read_before_the_reservations_are_sent(router: Router) -> None:
    """Read behind a batch's reservations, the next batch would come only once they all ran:
    it is read first, stays pending until carried out, and the next round decides it
    without another read. A worker stopping carries out what it read ahead."""
    c = router.client
    router.agent("alice", chat=6)
    router.drain()
    router.worker.settings = PIPELINED
    ids = [c.submit("chat", "general", f"u{i}").request_id for i in range(6)]
    assert router.worker.step(block_ms=1) == 2
    assert router.worker._inflight is not None
    assert router.worker._prefetched is not None and len(router.worker._prefetched) == 2
    assert _pending(router) == 4  # both batches: a worker dying now leaves them to another
    assert router.worker.step(block_ms=1) == 2  # the batch read ahead, no read of its own
    assert _pending(router) == 4  # the first batch is acknowledged with the next read
    router.worker.stop()
    router.worker.wind_down()
    assert router.worker._prefetched is None and router.worker._inflight is None
    assert _pending(router) == 0
    assert offered_to(router, ids) == ["alice"] * 6
    assert router.worker.stats.lost_races == 0


def test_due_timers_are_claimed_behind_a_batch_under_way(router: Router) -> None:
    """With reservations under way, Redis runs their batch before it would answer a claim of
    due timers: the claim goes on the reservation thread, behind them, and the worker does
    not wait for it - until a round without a batch under way, which finds the claim done
    (the timers' items in the stream for its read)."""
    c = router.client
    router.agent("alice")
    router.agent("bob")
    router.drain()
    first = c.submit("chat", "general", "u0").request_id
    router.drain()
    offered = c.request(first)
    assert offered is not None and offered.state is RequestState.OFFERED
    router.clock.advance(30)  # the offer's deadline (20 s) has passed: its timer is due
    worker = router.worker
    worker.settings = PIPELINED
    hk = worker.housekeeping
    hk.next_due["timers"] = float("inf")  # not claimed before the batch below is sent
    release = threading.Event()
    execute = c.execute

    def held(step):  # type: ignore[no-untyped-def]
        if threading.current_thread() is not threading.main_thread():
            release.wait(10)  # the batch stays under way until the test lets it go
        return execute(step)

    worker.allocator.client.execute = held  # type: ignore[method-assign]
    threads: list[str] = []
    claim = hk.claim_timers

    def recording() -> None:
        threads.append(threading.current_thread().name)
        claim()

    hk.claim_timers = recording  # type: ignore[method-assign]
    [c.submit("chat", "general", f"u{i}") for i in (1, 2)]
    assert worker.step(block_ms=1) == 2 and worker.allocator.sending()
    hk.next_due["timers"] = 0.0
    hk.run_due()  # due, with the batch under way: handed to the reservation thread
    assert threads == [] and hk._claiming is not None
    release.set()
    router.drain()
    assert threads[0].startswith("implus-reserve")
    assert worker.stats.timeouts == 1  # the claimed timer's item was worked off
    assert hk._claiming is None
