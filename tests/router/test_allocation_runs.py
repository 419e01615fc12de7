"""Deciding a batch in runs (router.allocation_runs) gives exactly what deciding one by one
gives (router.allocation.decide, each pick counted in the view at once): the same
decisions with the same traces, and the same view afterwards. Pure, no Redis."""

from __future__ import annotations

import random

import pytest

import router.allocation_runs as runs_module
from router.allocation import decide
from router.allocation_runs import Runs
from router.candidates import AgentView
from router.model import AgentProfile, AgentState, AgentStatus, Channel, RoutingRequest
from router.strategy import parse_strategy

NOW = 2_000_000_000

STRATEGY = """
queues: {general: {}, sales: {skills: {sales: 1}}, expert: {skills: {sales: 1, tech: 1}}}
defaults: {queue: general, known_agent_wait: 20}
rules:
  - {name: vip, conditions: customer.vip >= 2, actions: {queue: sales, skills: {sales: 2},
     priority: 5}, order: ORDER}
  - {name: sales, conditions: service == "sales", actions: {queue: sales},
     goals: [{after: 10, add_queue: general}, {after: 30, skills: {sales: 0}}], order: ORDER}
  - {name: tech, conditions: service == "tech", actions: {queue: expert},
     goals: [{after: 5, add_queue: sales}], order: highest_skill}
  - {name: pref, conditions: service == "pref", actions: {queue: general, preferred_agents: [a3]}}
  - {name: draw, conditions: service == "draw", actions: {queue: general}, order: weighted_random}
  - {name: late, conditions: service == "late", actions: {queue: general},
     goals: [{after: 1, overflow: voicemail}]}
  - {name: rest, conditions: service == "support", actions: {queue: general}, order: REST}
"""


def make_strategy(order: str):
    rest = "longest_idle" if order == "highest_skill" else order  # general names no skill
    return parse_strategy(STRATEGY.replace("ORDER", order).replace("REST", rest))


def random_agent(rng: random.Random, i: int) -> AgentState:
    chat_cap = rng.choice([1, 2, 3, 6])
    voice_cap = rng.choice([0, 1, 1])
    load = {"chat": rng.randint(0, chat_cap)}
    if voice_cap and rng.random() < 0.2:
        load["voice"] = 1
    leases = {"desktop": NOW + 60_000 if rng.random() < 0.9 else NOW - 1}
    if rng.random() < 0.7:
        leases["sip"] = NOW + 60_000
    skills = {}
    if rng.random() < 0.5:
        skills["sales"] = rng.randint(0, 3)
    if rng.random() < 0.3:
        skills["tech"] = rng.randint(1, 2)
    return AgentState(
        profile=AgentProfile(
            id=f"a{i}",
            skills=skills,
            capacity={"chat": chat_cap, "voice": voice_cap},
            weight=rng.randint(0, 3),
        ),
        status=AgentStatus.AVAILABLE if rng.random() < 0.85 else AgentStatus.AWAY,
        load=load,
        busy=sum(load.values()),
        idle_since=rng.randint(0, 50),
        wrapup_until=NOW + 5_000 if rng.random() < 0.1 else 0,
        leases=leases,
        devices={"sip": rng.choice(["available", "available", "busy", "offline"])},
        last_offer=rng.randint(0, 20),
        version=1,
    )


def random_request(rng: random.Random, i: int, agents: int, plain: bool) -> RoutingRequest:
    services = ["support", "support", "sales", "tech"]
    if not plain:
        services += ["pref", "draw", "late", "none"]
    fields: dict = {}
    if not plain:
        if rng.random() < 0.1:
            fields["owner"] = f"a{rng.randrange(agents)}"
        if rng.random() < 0.1:
            fields["rejected_until"] = {f"a{rng.randrange(agents)}": NOW + 9_000}
        if rng.random() < 0.05:
            fields["max_wait"] = 1
        if rng.random() < 0.05:
            fields["force_queue"] = "sales"
    return RoutingRequest(
        id=f"r{i}",
        channel=rng.choice([Channel.CHAT] * 4 + ([] if plain else [Channel.VOICE, Channel.VOIP])),
        service=rng.choice(services),
        user_id=f"u{i}",
        session_id=f"s{i}",
        created=NOW - rng.randint(0, 40_000),
        customer={"vip": rng.choice([0, 0, 0, 2])},
        **fields,
    )


def view_of(strategy, agents: list[AgentState], warm: bool) -> AgentView:
    view = AgentView({q: d.skills.keys() for q, d in strategy.definition.queues.items()})
    for a in agents:
        view.upsert(a)
    if warm:  # pools built before the batch (a worker's are), or during it
        for q in strategy.queue_names:
            for ch in Channel:
                for order in ("longest_idle", "least_load", "round_robin"):
                    next(view.ready(q, ch, order), None)
    return view


def one_by_one(strategy, view: AgentView, requests: list[RoutingRequest]) -> list:
    out = []
    for r in requests:
        d = decide(r, strategy, view, NOW)
        if d.outcome == "offer":
            aid = d.candidates[0]
            view.upsert(view.get(aid).counted(r.channel.capacity_channel.value, 1, NOW))
        out.append(d)
    return out


def in_runs(strategy, view: AgentView, requests: list[RoutingRequest]) -> list:
    def count(aid: str, state: AgentState) -> int:
        view.upsert(state)
        return 0

    return Runs(strategy, view, NOW, count).decide_all(requests)


def pools(strategy, view: AgentView) -> list[list[str]]:
    return [
        [a.id for a in view.ready(q, ch, order, "sales")]
        for q in strategy.queue_names
        for ch in Channel
        for order in ("longest_idle", "least_load", "round_robin", "highest_skill")
    ]


@pytest.mark.parametrize("order", ["longest_idle", "least_load", "round_robin", "highest_skill"])
@pytest.mark.parametrize("plain", [True, False])
@pytest.mark.parametrize("warm", [True, False])
@pytest.mark.parametrize("seed", range(6))
def test_runs_decide_as_one_by_one(order, plain, warm, seed):
    rng = random.Random(f"{order}{plain}{warm}{seed}")
    strategy = make_strategy(order)
    agents = [random_agent(rng, i) for i in range(rng.choice([5, 30, 80]))]
    requests = [random_request(rng, i, len(agents), plain) for i in range(120)]
    expected_view = view_of(strategy, agents, warm)
    expected = one_by_one(strategy, expected_view, requests)
    view = view_of(strategy, agents, warm)
    got = in_runs(strategy, view, requests)
    for e, g in zip(expected, got, strict=True):
        assert g == e, e.request
    assert {a.id: a for a in view.agents()} == {a.id: a for a in expected_view.agents()}
    assert pools(strategy, view) == pools(strategy, expected_view)
    assert any(d.outcome == "offer" for d in got)


def test_plain_requests_are_decided_in_the_run(monkeypatch):
    """The throughput benchmark's batch (chat requests, two rules over two queues, agents
    filling up): no request goes one by one, and the picks are counted once per agent."""
    strategy = make_strategy("longest_idle")
    agents = [
        AgentState(
            profile=AgentProfile(
                id=f"a{i}", skills={"sales": 2} if i % 4 == 0 else {}, capacity={"chat": 6}
            ),
            status=AgentStatus.AVAILABLE,
            leases={"desktop": NOW + 60_000},
            idle_since=i,
        )
        for i in range(20)
    ]
    requests = [
        RoutingRequest(
            id=f"r{i}",
            channel=Channel.CHAT,
            service="sales" if i % 4 == 0 else "support",
            user_id=f"u{i}",
            session_id=f"s{i}",
            created=NOW - 100,
            customer={"vip": 2 if i % 10 == 0 else 0},
        )
        for i in range(55)
    ]
    expected = one_by_one(strategy, view_of(strategy, agents, True), requests)

    def not_one_by_one(*args, **kw):
        raise AssertionError("decided one by one")

    monkeypatch.setattr(runs_module, "decide", not_one_by_one)
    view = view_of(strategy, agents, True)
    counted: list[str] = []

    def count(aid: str, state: AgentState) -> int:
        counted.append(aid)
        view.upsert(state)
        return len(counted)

    got = Runs(strategy, view, NOW, count).decide_all(requests)
    assert [d.candidates for d in got] == [d.candidates for d in expected]
    assert [d.trace for d in got] == [d.trace for d in expected]
    # every agent picked is counted once, though most were picked more than once
    assert sorted(counted) == sorted({d.candidates[0] for d in got})
    assert len(counted) < len(got)
    runs = {d.candidates[0]: d.counted_run for d in got}
    assert all(d.counted_run == runs[d.candidates[0]] for d in got)


def test_a_share_of_several_workers_decides_one_by_one():
    strategy = make_strategy("longest_idle")
    rng = random.Random(3)
    agents = [random_agent(rng, i) for i in range(30)]
    requests = [random_request(rng, i, 30, True) for i in range(40)]
    view = view_of(strategy, agents, True)
    got = Runs(strategy, view, NOW, lambda a, s: view.upsert(s) and 0, (0, 2)).decide_all(requests)
    expected_view = view_of(strategy, agents, True)
    expected = []
    for r in requests:
        d = decide(r, strategy, expected_view, NOW, (0, 2))
        if d.outcome == "offer":
            aid = d.candidates[0]
            expected_view.upsert(expected_view.get(aid).counted("chat", 1, NOW))
        expected.append(d)
    assert got == expected
