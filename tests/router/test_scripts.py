"""The atomic scripts themselves: agreement with the advisory Python check, races, failover."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from router.cli import main
from router.client import RouterClient, new_id
from router.keys import WORK_GROUP
from router.model import AgentState, Channel, RequestState
from router.ops import Script
from router.worker import Worker, WorkerSettings

T0 = 1_800_000_000_000

# (agent hash fields on top of a ready agent, channel, expected refusal or None)
CASES = [
    ({}, "chat", None),
    ({}, "voice", None),
    ({"status": "away"}, "chat", "status away"),
    ({"status": "offline"}, "voice", "status offline"),
    ({"lease:desktop": str(T0 - 1)}, "chat", "no desktop presence"),
    ({"lease:sip": str(T0 - 1)}, "chat", None),
    ({"lease:sip": str(T0 - 1)}, "voice", "no sip presence"),
    ({"dev:sip": "busy"}, "voip", "phone busy"),
    ({"dev:sip": "busy"}, "chat", None),
    ({"dev:sip": "offline"}, "voice", "phone offline"),  # unregistered, lease still running
    ({"dev:sip": "offline"}, "chat", None),
    ({"wrapup_until": str(T0 + 1)}, "chat", "wrap-up"),
    ({"load:chat": "3", "busy": "3"}, "chat", "no free capacity"),
    ({"load:voice": "1", "busy": "1"}, "voip", "no free capacity"),
    ({"load:voice": "1", "busy": "1"}, "chat", "blocked by voice"),
    ({"load:voice": "1", "busy": "1", "blocks:voice": ""}, "chat", None),
    ({"load:chat": "1", "busy": "1", "blocks:chat": "voice"}, "voice", "blocked by chat"),
    ({"cap:chat": "0"}, "chat", "no free capacity"),
]


@pytest.mark.parametrize(("fields", "channel", "expected"), CASES)
def test_reservation_script_and_python_check_agree(rds, redis_url, fields, channel, expected):
    client = RouterClient.from_url(redis_url, clock=lambda: T0)
    base = {
        "id": "a",
        "status": "available",
        "cap:voice": "1",
        "cap:chat": "3",
        "blocks:voice": "chat",
        "load:voice": "0",
        "load:chat": "0",
        "busy": "0",
        "lease:desktop": str(T0 + 60_000),
        "lease:sip": str(T0 + 60_000),
        "dev:sip": "available",
        "skills": "{}",
        "v": "1",
    }
    agent = {**base, **fields}
    rds.hset(client.keys.agent("a"), mapping=agent)
    rds.hset(
        client.keys.request("r"),
        mapping={
            "id": "r",
            "channel": channel,
            "state": "queued",
            "session": "s",
            "queues": "[]",
            "created": str(T0),
        },
    )
    python = AgentState.from_hash(agent).unavailable_reason(Channel(channel), T0)
    reply = reserve(client, "r", "a", T0 + 1000)
    lua = None if int(reply[0]) == 1 else reply[1]
    assert python == lua == expected


def reserve(client: RouterClient, rid: str, aid: str, deadline: int) -> list[object]:
    """One decision through the reservation script (reserve_batch with one item)."""
    args = (1, 60, rid, aid, new_id(), deadline, "[]", 0, "r", 0, "")
    (reply,) = client.execute(Script("reserve_batch", args))
    return reply


def test_two_reservations_for_the_last_slot(rds, redis_url):
    client = RouterClient.from_url(redis_url, clock=lambda: T0)
    from router.model import AgentProfile

    client.upsert_agent(AgentProfile(id="a", capacity={"chat": 1, "voice": 0}))
    client.heartbeat("a")
    client.set_status("a", "available")
    subs = [client.submit("chat", "general", f"u{i}") for i in range(2)]
    replies = [reserve(client, s.request_id, "a", T0 + 1000) for s in subs]
    assert [int(r[0]) for r in replies] == [1, 0]
    assert replies[1][1] == "no free capacity"
    assert client.agent("a").load == {"chat": 1}
    # the winner's request cannot be reserved twice either
    again = reserve(client, subs[0].request_id, "a", T0)
    assert again[:2] == [0, "request offered"]


def test_dead_worker_items_are_taken_over(redis_url):
    client = RouterClient.from_url(redis_url, clock=lambda: T0)
    dying = Worker(client, name="dying", settings=WorkerSettings(claim_idle_ms=10))
    dying.start()
    client.ensure_strategy()
    sub = client.submit("chat", "general", "u1")
    # the dying worker reads the item and never acknowledges it
    client.redis.xreadgroup(WORK_GROUP, "dying", {client.keys.work(): ">"}, count=100)
    assert client.request(sub.request_id).queues == ()
    heir = Worker(client, name="heir", settings=WorkerSettings(claim_idle_ms=10, block_ms=1))
    heir.start()
    import time

    time.sleep(0.05)
    heir.step(block_ms=1)
    assert client.request(sub.request_id).queues == ("general",)
    assert client.redis.xpending(client.keys.work(), WORK_GROUP)["pending"] == 0


def test_explain_cli(router):
    c = router.client
    router.agent("alice")
    sub = c.submit("chat", "general", "u1")
    router.drain()
    url = c.redis.connection_pool.connection_kwargs
    redis_url = f"redis://{url['host']}:{url['port']}/0"
    out = CliRunner().invoke(main, ["router", "--redis-url", redis_url, "explain", sub.request_id])
    assert out.exit_code == 0, out.output
    assert "rule everyone" in out.output and "-> offer" in out.output and "alice" in out.output
    out = CliRunner().invoke(main, ["router", "--redis-url", redis_url, "explain", "nope"])
    assert out.exit_code == 1 and "no request" in out.output
    raw = CliRunner().invoke(
        main, ["router", "--redis-url", redis_url, "explain", "--json", sub.request_id]
    )
    assert json.loads(raw.output)["decisions"][0]["chosen"] == "alice"


def test_load_strategy_cli_reports_problems(router, tmp_path):
    url = router.client.redis.connection_pool.connection_kwargs
    redis_url = f"redis://{url['host']}:{url['port']}/0"
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules: [{name: r, actions: {queue: nowhere}}]")
    out = CliRunner().invoke(main, ["router", "--redis-url", redis_url, "load-strategy", str(bad)])
    assert (
        out.exit_code == 1 and "rules[0] (r).actions.queue: unknown queue 'nowhere'" in out.output
    )
    good = tmp_path / "good.yaml"
    good.write_text("queues: {q: {}}\nrules: [{name: r, actions: {queue: q}}]")
    out = CliRunner().invoke(main, ["router", "--redis-url", redis_url, "load-strategy", str(good)])
    assert out.exit_code == 0 and "strategy v2 loaded" in out.output
    out = CliRunner().invoke(main, ["router", "--redis-url", "redis://127.0.0.1:1/0", "status"])
    assert out.exit_code == 1 and "cannot reach Redis" in out.output


def test_states_are_an_enum_of_the_lifecycle():
    assert {s.value for s in RequestState} == {
        "queued",
        "offered",
        "accepted",
        "abandoned",
        "overflowed",
        "closed",
    }


def test_dry_run_and_audit_cli(router, tmp_path):
    c = router.client
    router.agent("a")
    for i in range(3):
        c.submit("chat", "billing" if i else "booking", f"u{i}")
    router.drain()
    url = c.redis.connection_pool.connection_kwargs
    redis_url = f"redis://{url['host']}:{url['port']}/0"
    new = tmp_path / "new.yaml"
    new.write_text(
        "queues: {general: {}, billing: {}}\n"
        'rules:\n  - {name: bill, conditions: service == "billing", actions: {queue: billing}}\n'
        "  - {name: rest, actions: {queue: general}}\n"
    )
    out = CliRunner().invoke(main, ["router", "--redis-url", redis_url, "dry-run", str(new)])
    assert out.exit_code == 0, out.output
    assert "3 recent requests replayed; 2 would be routed differently" in out.output
    assert "everyone -> general  =>  bill -> billing" in out.output
    out = CliRunner().invoke(main, ["router", "--redis-url", redis_url, "audit"])
    assert out.exit_code == 0, out.output
    assert "3 requests, 3 offers" in out.output and out.output.rstrip().endswith(
        "capacity never exceeded"
    )
