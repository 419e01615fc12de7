"""``reserve_batch``: several decisions reserved in one script call, each checked on its
own (test_scripts.py checks one decision's refusals against the Python view), in order;
one refusal does not undo the others. Real redis-server; every reservation a worker makes
goes through it."""

from __future__ import annotations

import json

from router.client import RouterClient, new_id
from router.model import AgentProfile, RequestState
from router.ops import Script

T0 = 1_800_000_000_000


def _ready(client: RouterClient, aid: str, chat: int) -> None:
    client.upsert_agent(AgentProfile(id=aid, capacity={"chat": chat, "voice": 0}))
    client.heartbeat(aid)
    client.set_status(aid, "available")


def _decision(rid: str, aid: str, trace: str = "") -> tuple[object, ...]:
    return (rid, aid, new_id(), T0 + 60_000, '["general"]', 0, "r", 0, trace)


def _batch(client: RouterClient, *decisions: tuple[object, ...]) -> list[list[object]]:
    args = [7, 60]
    for d in decisions:
        args += d
    reply = client.execute(Script("reserve_batch", tuple(args)))
    assert len(reply) == len(decisions)
    return reply


def test_a_batch_reserves_every_decision_and_records_each_offer(redis_url):
    client = RouterClient.from_url(redis_url, clock=lambda: T0)
    _ready(client, "a", 2)
    _ready(client, "b", 1)
    subs = [client.submit("chat", "general", f"u{i}") for i in range(3)]
    replies = _batch(
        client,
        _decision(subs[0].request_id, "a", json.dumps({"chosen": "a"})),
        _decision(subs[1].request_id, "b"),
        _decision(subs[2].request_id, "a"),
    )
    assert [int(r[0]) for r in replies] == [1, 1, 1]
    for sub, reply, agent in zip(subs, replies, ["a", "b", "a"], strict=True):
        request = client.request(sub.request_id)
        assert request.state is RequestState.OFFERED and request.agent == agent
        assert request.offer == reply[1] and client.offer(reply[1]).agent_id == agent
    assert client.agent("a").load == {"chat": 2} and client.agent("b").load == {"chat": 1}
    assert client.explain(subs[0].request_id) == [{"chosen": "a"}]
    assert client.explain(subs[1].request_id) == []  # no trace sent: none written
    created = [e for e in client.read_events("0", block_ms=1) if e.type == "offer.created"]
    assert [e.get("request") for e in created] == [s.request_id for s in subs]


def test_capacity_taken_earlier_in_the_same_batch_refuses_a_later_decision(redis_url):
    """The batch is checked in order: the second decision for the last slot loses, with
    the agent's hash for the worker's view, and the first keeps its offer."""
    client = RouterClient.from_url(redis_url, clock=lambda: T0)
    _ready(client, "a", 1)
    _ready(client, "b", 1)
    subs = [client.submit("chat", "general", f"u{i}") for i in range(3)]
    replies = _batch(
        client,
        _decision(subs[0].request_id, "a"),
        _decision(subs[1].request_id, "a"),
        _decision(subs[2].request_id, "b"),
    )
    assert [int(r[0]) for r in replies] == [1, 0, 1]
    assert replies[1][1] == "no free capacity"
    hash_ = dict(zip(replies[1][2][::2], replies[1][2][1::2], strict=True))
    assert hash_["load:chat"] == "1" and hash_["id"] == "a"
    assert client.request(subs[1].request_id).state is RequestState.QUEUED
    assert client.agent("a").load == {"chat": 1}


def test_a_request_cancelled_after_the_decision_fails_alone(redis_url):
    """The customer hangs up between the worker's decision and its batch: that decision is
    refused (the request moved on), the agent's slot is not taken, the rest go through."""
    client = RouterClient.from_url(redis_url, clock=lambda: T0)
    _ready(client, "a", 3)
    subs = [client.submit("chat", "general", f"u{i}") for i in range(3)]
    assert client.cancel(subs[1].request_id).ok
    replies = _batch(client, *(_decision(s.request_id, "a") for s in subs))
    assert [int(r[0]) for r in replies] == [1, 0, 1]
    assert str(replies[1][1]).startswith("request ") and len(replies[1]) == 2
    assert client.request(subs[1].request_id).state is not RequestState.OFFERED
    assert client.agent("a").load == {"chat": 2}


def test_the_same_request_twice_in_a_batch_is_offered_once(redis_url):
    client = RouterClient.from_url(redis_url, clock=lambda: T0)
    _ready(client, "a", 1)
    _ready(client, "b", 1)
    sub = client.submit("chat", "general", "u1")
    replies = _batch(client, _decision(sub.request_id, "a"), _decision(sub.request_id, "b"))
    assert [r[:2] for r in replies][1] == [0, "request offered"]
    assert int(replies[0][0]) == 1
    assert client.agent("b").load == {}


def test_unknown_and_unavailable_agents_are_refused_with_the_reason(redis_url):
    client = RouterClient.from_url(redis_url, clock=lambda: T0)
    _ready(client, "a", 1)
    client.set_status("a", "away")
    subs = [client.submit("chat", "general", f"u{i}") for i in range(2)]
    replies = _batch(
        client, _decision(subs[0].request_id, "ghost"), _decision(subs[1].request_id, "a")
    )
    assert [r[:2] for r in replies] == [[0, "unknown agent"], [0, "status away"]]
    assert all(client.request(s.request_id).state is RequestState.QUEUED for s in subs)


def test_an_empty_batch_does_nothing(redis_url):
    client = RouterClient.from_url(redis_url, clock=lambda: T0)
    assert client.execute(Script("reserve_batch", (1, 60))) == []


def test_offer_ids_are_uuid4_hex_sized_random_and_a_fork_draws_its_own():
    import os
    import re

    from router.worker.reservations import offer_id

    ids = [offer_id() for _ in range(2000)]  # several refills of the buffer
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    offer_id()  # the parent holds ids drawn already
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its ids must not be the parent's next ones
        os.write(write, "".join(offer_id() for _ in range(3)).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 200).decode()
    os.close(read)
    parent = [offer_id() for _ in range(3)]
    assert len(child) == 96 and not any(p in child for p in parent)
