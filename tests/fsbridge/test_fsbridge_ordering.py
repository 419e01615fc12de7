"""The ESL bridge's per-call ordering (esl_bridge.ordering.PerKey): one call's events in
order, calls side by side, idle keys' work as their turn, and waiting workers reused."""

from __future__ import annotations

import gevent
import pytest

from esl_bridge.ordering import PerKey


def test_events_run_in_order_per_call_and_side_by_side_across_calls() -> None:
    done: list[str] = []

    def handle(item: str) -> None:
        if item == "a1":
            gevent.sleep(0.05)  # call a waits on I/O; call b is not held up
        if item == "a2":
            raise RuntimeError("a handler failing does not stop its call's queue")
        done.append(item)

    work: PerKey[str] = PerKey(handle)
    for key, item in (("a", "a1"), ("b", "b1"), ("a", "a2"), ("a", "a3"), ("b", "b2")):
        work.submit(key, item)
    with gevent.Timeout(2):
        while len(work):
            gevent.sleep(0.01)
    assert done == ["b1", "b2", "a1", "a3"]


def test_work_on_idle_keys_runs_as_their_turn() -> None:
    done: list[str] = []

    def handle(item: str) -> None:
        if item == "b1":
            gevent.sleep(0.05)
        done.append(item)

    work: PerKey[str] = PerKey(handle)
    work.submit("b", "b1")  # busy: its own greenlet runs it

    def flush(idle: list[str]) -> None:
        work.submit("a", "a-after")  # arrives while the flush holds call a: waits for it
        gevent.sleep(0.01)
        done.append("flush " + ",".join(idle))

    with gevent.Timeout(2):
        assert work.run_idle(["a", "b", "c"], flush) == ["b"]
        assert done == ["flush a,c"]
        assert not work.busy("c")  # nothing queued behind it: released
        while len(work):
            gevent.sleep(0.01)
    assert done == ["flush a,c", "a-after", "b1"]


@pytest.mark.parametrize(("spare", "spawned"), [(3, 3), (2, 3 + 29)])
def test_idle_keys_reuse_waiting_workers_and_keep_their_order(spare: int, spawned: int) -> None:
    """Three keys at a time, 30 rounds: with 3 kept, 3 workers do all 90 items; with 2
    kept, the third ends after each round and the next round makes one more."""
    done: list[tuple[str, int]] = []
    workers: set[object] = set()

    def handle(item: tuple[str, int]) -> None:
        workers.add(gevent.getcurrent())
        if item[1] % 3 == 0:
            gevent.sleep(0.001)  # blocks: other keys go on meanwhile
        done.append(item)

    work: PerKey[tuple[str, int]] = PerKey(handle, spare=spare)
    with gevent.Timeout(5):
        for n in range(30):  # one event at a time, each finding its key idle
            for key in ("a", "b", "c"):
                work.submit(key, (key, n))
            while len(work):
                gevent.sleep(0.001)
    for key in ("a", "b", "c"):
        assert [n for k, n in done if k == key] == list(range(30))
    assert work.spawned == spawned and len(workers) == spawned
    assert len(work._waiting) == spare


def test_a_worker_killed_while_waiting_is_not_given_work() -> None:
    done: list[str] = []
    seen: list[gevent.Greenlet] = []

    def handle(item: str) -> None:
        seen.append(gevent.getcurrent())
        done.append(item)

    work: PerKey[str] = PerKey(handle)
    with gevent.Timeout(2):
        work.submit("a", "first")
        while len(work):
            gevent.sleep(0.001)
        seen[0].kill()
        assert not work._waiting
        work.submit("a", "second")
        while len(work):
            gevent.sleep(0.001)
    assert done == ["first", "second"] and work.spawned == 2
