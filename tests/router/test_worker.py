"""The allocation worker as a running thread: it survives Redis losing its consumer group."""

from __future__ import annotations

import threading
import time

from router.keys import WORK_GROUP
from router.model import RequestState
from router.worker import Worker, WorkerSettings


def test_a_running_worker_creates_its_group_again_when_the_work_stream_is_lost(router):
    """Redis restarted from an older snapshot (or a replica promoted before the group
    reached it) has no work stream and no group: XREADGROUP answers NOGROUP. The worker
    thread must create the group again and route what comes next, not die."""
    c = router.client
    router.agent("alice")
    worker = Worker(c, name="threaded", settings=WorkerSettings(block_ms=5))
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        _until(lambda: any(x["name"] == "threaded" for x in _consumers(c)), "the worker joins")
        c.redis.delete(c.keys.work())  # the stream and its group are gone
        sub = c.submit("chat", "general", "u1")
        _until(
            lambda: (
                c.request(sub.request_id).state is RequestState.OFFERED or not thread.is_alive()
            ),
            "the request to be routed",
        )
        assert thread.is_alive(), "the worker thread died on NOGROUP"
        assert c.request(sub.request_id).agent == "alice"
    finally:
        worker.stop()
        thread.join(5)
    assert not thread.is_alive()
    assert c.redis.xinfo_groups(c.keys.work())[0]["name"] == WORK_GROUP


def _consumers(c):  # type: ignore[no-untyped-def]
    try:
        return c.redis.xinfo_consumers(c.keys.work(), WORK_GROUP)
    except Exception:
        return []


def _until(check, what: str, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def test_freezing_the_heap_lets_a_rounds_objects_die_before_a_collection():
    """After start-up the worker's heap is frozen and the collector's youngest generation
    waits for GC_YOUNG net allocations (a round of 256 decisions stays under it), the older
    thresholds unchanged; what start-up loaded is out of every pass."""
    import gc

    from router.worker.loop import GC_YOUNG, _freeze_heap

    before = gc.get_threshold()
    try:
        _freeze_heap()
        assert gc.get_threshold() == (GC_YOUNG, before[1], before[2])
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_a_running_worker_freezes_what_each_round_leaves_alive(router):
    """Objects a round leaves alive (the view's new agent states) are frozen after it: left
    in the youngest generation they piled up until a pass over all of them paused the
    worker 12-23 ms (the offer latency's tail at 1,000 requests/s)."""
    import gc

    c = router.client
    router.agent("alice")
    before = gc.get_threshold()
    worker = Worker(c, name="freezer", settings=WorkerSettings(block_ms=5))
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        sub = c.submit("chat", "general", "u1")  # routed: the worker is past its start-up
        _until(lambda: c.request(sub.request_id).state is RequestState.OFFERED, "the offer")
        frozen = gc.get_freeze_count()
        kept = [[] for _ in range(1000)]  # alive and tracked, made after start-up's freeze
        _until(lambda: gc.get_freeze_count() >= frozen + len(kept), "a round to freeze them")
    finally:
        worker.stop()
        thread.join(5)
        gc.unfreeze()
        gc.set_threshold(*before)


def test_the_periodic_full_pass_frees_cycles_the_rounds_froze():
    """Garbage in a reference cycle frozen by a round is out of every collection until
    the periodic full pass (``WorkerSettings.cycle_collect_interval_s``) frees it."""
    import gc
    import weakref

    from router.worker.loop import _collect_cycles

    class Node:
        me: object = None

    try:
        node = Node()
        node.me = node
        ref = weakref.ref(node)
        gc.freeze()
        del node
        gc.collect()
        assert ref() is not None, "a frozen cycle is out of the ordinary passes"
        assert _collect_cycles() >= 1
        assert ref() is None
    finally:
        gc.unfreeze()


def test_the_full_pass_runs_when_due_at_a_round_without_work(router, monkeypatch):
    """Once ``cycle_collect_interval_s`` has passed, a round that found no work runs the
    collector's full pass (its pause then delays no request)."""
    import gc

    import router.worker.loop as loop

    passes: list[float] = []
    monkeypatch.setattr(loop, "_collect_cycles", lambda: passes.append(time.monotonic()))
    router.agent("alice")
    before = gc.get_threshold()
    settings = WorkerSettings(block_ms=5, cycle_collect_interval_s=0.05)
    worker = Worker(router.client, name="collector", settings=settings)
    thread = threading.Thread(target=worker.run, daemon=True)
    started = time.monotonic()
    thread.start()
    try:
        _until(lambda: len(passes) >= 2, "two full passes")
    finally:
        worker.stop()
        thread.join(5)
        gc.unfreeze()
        gc.set_threshold(*before)
    assert passes[0] - started >= 0.05, "not before the interval"
    assert passes[1] - passes[0] >= 0.05


def test_a_worker_is_seen_serving_only_once_its_view_is_loaded(router):
    """XINFO CONSUMERS names a worker once it can decide: while it loads its agent view it
    is not there yet (a load generator waiting for the consumers starts after the load)."""
    c = router.client
    router.agent("alice")
    worker = Worker(c, name="late")
    seen_while_loading = []
    load = worker.view.start

    def start_view() -> None:
        seen_while_loading.extend(x["name"] for x in _consumers(c))
        load()

    worker.view.start = start_view  # type: ignore[method-assign]
    worker.start()
    assert "late" not in seen_while_loading
    assert "late" in [x["name"] for x in _consumers(c)]
    assert worker.view.agents.get("alice") is not None
