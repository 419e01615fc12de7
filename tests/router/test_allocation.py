"""Candidate ordering, the agent view and allocation decisions: pure, no Redis."""

from __future__ import annotations

import dataclasses

import pytest

from router.allocation import choose_request, decide, queue_score, rank, waiting_line
from router.candidates import AgentView
from router.model import (
    AgentProfile,
    AgentState,
    AgentStatus,
    Channel,
    RequestState,
    RoutingRequest,
)
from router.ordering import pick_weighted
from router.strategy import parse_strategy

NOW = 1_000_000_000
LEASES = {"desktop": NOW + 60_000, "sip": NOW + 60_000}


def agent(
    aid: str,
    *,
    skills=None,
    idle=0,
    load=None,
    busy=None,
    status="available",
    cap=None,
    last_offer=0,
    weight=1,
    wrapup=0,
    leases=None,
    devices=None,
    version=1,
) -> AgentState:
    load = load or {}
    return AgentState(
        profile=AgentProfile(
            id=aid,
            name=aid,
            skills=skills or {},
            capacity=cap or {"voice": 1, "chat": 3},
            weight=weight,
        ),
        status=AgentStatus(status),
        load=load,
        busy=sum(load.values()) if busy is None else busy,
        idle_since=idle,
        wrapup_until=wrapup,
        leases=LEASES if leases is None else leases,
        devices=devices or {"sip": "available"},
        last_offer=last_offer,
        version=version,
    )


def request(rid="r1", channel="chat", created=NOW - 1000, **kw) -> RoutingRequest:
    return RoutingRequest(
        id=rid,
        channel=Channel(channel),
        service="booking",
        user_id="u1",
        session_id="s1",
        created=created,
        **kw,
    )


STRATEGY = parse_strategy("""
queues: {general: {}, booking: {skills: {booking: 1}}}
defaults: {queue: general, known_agent_wait: 30}
rules:
  - {name: idle, conditions: customer.order == "idle", actions: {queue: booking}, order: longest_idle}
  - {name: load, conditions: customer.order == "load", actions: {queue: booking}, order: least_load}
  - {name: skill, conditions: customer.order == "skill", actions: {queue: booking, skills: {booking: 2}}, order: highest_skill,
     goals: [{after: 30, skills: {booking: 1}}]}
  - {name: rr, conditions: customer.order == "rr", actions: {queue: booking}, order: round_robin}
  - {name: wr, conditions: customer.order == "wr", actions: {queue: booking}, order: weighted_random}
  - {name: pref, conditions: customer.order == "pref", actions: {queue: booking, preferred_agents: [c]}}
  - {name: late, conditions: customer.order == "late", actions: {queue: booking}, goals: [{after: 5, overflow: voicemail}]}
""")


def view_of(*agents: AgentState) -> AgentView:
    v = AgentView({q: d.skills.keys() for q, d in STRATEGY.definition.queues.items()})
    for a in agents:
        v.upsert(a)
    return v


TEAM = (
    agent("a", skills={"booking": 1}, idle=300, load={"chat": 2}, last_offer=50),
    agent("b", skills={"booking": 3}, idle=200, last_offer=10),
    agent("c", skills={"booking": 2}, idle=100, load={"chat": 1}, last_offer=30),
    agent("x", skills={}, idle=1),  # not in the booking queue
)


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        ("idle", ["b", "c", "a"]),  # no contact first, then idle since the earliest time
        ("load", ["b", "c", "a"]),
        ("skill", ["b", "c"]),  # highest booking level among booking >= 2
        ("rr", ["b", "c", "a"]),  # least recently offered
    ],
)
def test_orders(order, expected):
    r = request(customer={"order": order})
    d = decide(r, STRATEGY, view_of(*TEAM), NOW)
    assert d.outcome == "offer"
    assert d.candidates == expected[:1]
    assert d.trace["rule"] and d.trace["chosen"] == expected[0]
    assert d.plan is not None
    assert rank(r, d.plan, view_of(*TEAM), NOW, 10) == expected


def test_goal_step_lowers_the_minimum_level():
    early_r = request(customer={"order": "skill"})
    late_r = request(customer={"order": "skill"}, created=NOW - 31_000)
    early = decide(early_r, STRATEGY, view_of(*TEAM), NOW)
    late = decide(late_r, STRATEGY, view_of(*TEAM), NOW)
    assert early.plan is not None and late.plan is not None
    assert rank(early_r, early.plan, view_of(*TEAM), NOW, 10) == ["b", "c"]
    assert rank(late_r, late.plan, view_of(*TEAM), NOW, 10) == ["b", "c", "a"]
    assert late.trace["step"] == 1


def test_preferred_agent_first():
    d = decide(request(customer={"order": "pref"}), STRATEGY, view_of(*TEAM), NOW)
    assert d.candidates[0] == "c"


def test_weighted_random_is_replayable_and_weighted():
    team = (
        agent("a", skills={"booking": 1}, weight=1),
        agent("b", skills={"booking": 1}, weight=50),
    )
    v = view_of(*team)
    firsts = [
        decide(request(rid=f"r{i}", customer={"order": "wr"}), STRATEGY, v, NOW).candidates[0]
        for i in range(200)
    ]
    assert firsts.count("b") > 150
    again = [
        decide(request(rid=f"r{i}", customer={"order": "wr"}), STRATEGY, v, NOW).candidates[0]
        for i in range(200)
    ]
    assert firsts == again


def test_pick_weighted_with_zero_weights_keeps_everyone():
    team = [agent("a", weight=0), agent("b", weight=0)]
    assert {a.id for a in pick_weighted(team, "s")} == {"a", "b"}


@pytest.mark.parametrize(
    ("tweak", "reason"),
    [
        ({"status": AgentStatus.AWAY}, "status away"),
        ({"leases": {"desktop": NOW - 1}}, "no desktop presence"),
        ({"wrapup_until": NOW + 5000}, "wrap-up"),
        ({"load": {"chat": 3}, "busy": 3}, "no free capacity"),
        ({"load": {"voice": 1}, "busy": 1}, "blocked by voice"),
    ],
)
def test_unavailable_agents_are_skipped_with_a_reason(tweak, reason):
    b = dataclasses.replace(TEAM[1], **tweak)
    assert b.unavailable_reason(Channel.CHAT, NOW) == reason
    d = decide(request(customer={"order": "idle"}), STRATEGY, view_of(TEAM[0], b, TEAM[2]), NOW)
    assert "b" not in d.candidates


def test_voice_needs_the_phone():
    b = dataclasses.replace(TEAM[1], devices={"sip": "busy"})
    assert b.unavailable_reason(Channel.VOICE, NOW) == "phone busy"
    assert b.unavailable_reason(Channel.CHAT, NOW) is None
    c = dataclasses.replace(TEAM[1], leases={"desktop": NOW + 1000})
    assert c.unavailable_reason(Channel.VOIP, NOW) == "no sip presence"


def test_declined_agent_is_not_offered_again_during_the_delay():
    r = request(customer={"order": "idle"}, rejected_until={"b": NOW + 5000})
    d = decide(r, STRATEGY, view_of(*TEAM), NOW)
    assert "b" not in d.candidates
    r = request(customer={"order": "idle"}, rejected_until={"b": NOW - 1})
    assert decide(r, STRATEGY, view_of(*TEAM), NOW).candidates[0] == "b"


def test_known_agent_first_even_without_the_skill():
    d = decide(request(customer={"order": "idle"}, owner="x"), STRATEGY, view_of(*TEAM), NOW)
    assert d.candidates == ["x"]
    assert "known agent" in d.trace["why"]


def test_known_agent_busy_pins_then_falls_back():
    busy_x = agent("x", load={"chat": 3})
    r = request(customer={"order": "idle"}, owner="x", created=NOW - 1000)
    d = decide(r, STRATEGY, view_of(*TEAM[:3], busy_x), NOW)
    assert d.outcome == "wait"
    assert d.pinned == "x"
    assert d.pinned_until == r.created + 30_000
    assert d.next_check == r.created + 30_000
    later = decide(
        dataclasses.replace(r, created=NOW - 31_000), STRATEGY, view_of(*TEAM[:3], busy_x), NOW
    )
    assert later.outcome == "offer" and "x" not in later.candidates


def test_known_agent_offline_is_not_waited_for():
    gone = agent("x", status="offline")
    d = decide(
        request(customer={"order": "idle"}, owner="x"), STRATEGY, view_of(*TEAM[:3], gone), NOW
    )
    assert d.outcome == "offer" and d.candidates[0] == "b"
    assert any("offline" in n for n in d.trace["notes"])


def test_no_free_agent_waits_with_next_goal_check():
    d = decide(request(customer={"order": "skill"}), STRATEGY, view_of(TEAM[0]), NOW)
    assert d.outcome == "wait"
    assert d.next_check == request().created + 30_000
    assert d.plan is not None and d.plan.queues == ("booking",)


def test_goal_overflow():
    d = decide(
        request(customer={"order": "late"}, created=NOW - 6000), STRATEGY, view_of(*TEAM), NOW
    )
    assert d.outcome == "overflow" and d.overflow_to == "voicemail"


def test_max_wait_overflows_to_the_entry_points_own_destination():
    fresh = request(customer={"order": "skill"}, max_wait=10, created=NOW - 4000)
    d = decide(fresh, STRATEGY, view_of(TEAM[0]), NOW)
    assert d.outcome == "wait"
    assert d.next_check == fresh.created + 10_000  # before the goal step at 30 s
    late = dataclasses.replace(fresh, created=NOW - 10_000)
    d = decide(late, STRATEGY, view_of(*TEAM), NOW)  # even with agents free: it is time
    assert d.outcome == "overflow" and d.overflow_to == ""
    assert d.reason == "waited the entry point's max wait (10s)"


def test_no_rule_uses_default_queue_and_without_one_overflows():
    d = decide(request(customer={}), STRATEGY, view_of(*TEAM), NOW)
    assert d.trace["rule"] == "transfer:general" or "default queue" in " ".join(d.trace["notes"])
    bare = parse_strategy(
        "queues: {q: {}}\nrules: [{name: a, conditions: 'false', actions: {queue: q}}]"
    )
    d = decide(request(), bare, view_of(*TEAM), NOW)
    assert d.outcome == "overflow"


def test_view_ignores_older_versions_and_indexes_update():
    v = view_of(*TEAM)
    newer = dataclasses.replace(TEAM[1], load={"chat": 3}, busy=3, version=5)
    v.upsert(newer)
    assert "b" not in [a.id for a in v.ready("booking", Channel.CHAT, "longest_idle")]
    v.upsert(dataclasses.replace(TEAM[1], version=4))  # stale: ignored
    assert "b" not in [a.id for a in v.ready("booking", Channel.CHAT, "longest_idle")]
    v.upsert(dataclasses.replace(TEAM[1], version=6))
    assert next(v.ready("booking", Channel.CHAT, "longest_idle")).id == "b"
    v.remove("b")
    assert "b" not in [a.id for a in v.ready("booking", Channel.CHAT, "longest_idle")]


def test_agent_takes_best_waiting_request_by_priority_then_age():
    b = TEAM[1]
    waiting = [
        request("old", customer={"order": "idle"}, created=NOW - 9000),
        request("vip", customer={"order": "idle"}, created=NOW - 1000, priority=5),
        request("new", customer={"order": "idle"}, created=NOW - 500),
    ]
    m = choose_request(b, waiting_line(waiting, STRATEGY, NOW), view_of(*TEAM), NOW)
    assert m is not None and m.request.id == "vip"
    m = choose_request(b, waiting_line(waiting[::2], STRATEGY, NOW), view_of(*TEAM), NOW)
    assert m is not None and m.request.id == "old"


def test_agent_does_not_take_requests_it_cannot_serve():
    x = TEAM[3]
    waiting = [
        request("pinned", customer={"order": "idle"}, owner="c"),  # reserved for its known agent
        request("skilled", customer={"order": "skill"}),  # needs booking >= 2
        request("offered", customer={"order": "idle"}, state=RequestState.OFFERED),
        request("voice", channel="voice", customer={"order": "idle"}),
    ]
    assert choose_request(x, waiting_line(waiting, STRATEGY, NOW), view_of(*TEAM), NOW) is None
    m = choose_request(TEAM[2], waiting_line(waiting, STRATEGY, NOW), view_of(*TEAM), NOW)
    assert m is not None and m.request.id == "pinned"


def test_queue_score_orders_priority_before_age():
    assert queue_score(NOW, 5) < queue_score(NOW - 10**9, 0)
    assert queue_score(NOW - 1, 0) < queue_score(NOW, 0)


def test_known_agent_takes_its_own_customer_before_older_requests():
    c = TEAM[2]
    line = waiting_line(
        [
            request("older", customer={"order": "idle"}, created=NOW - 9000),
            request("mine", customer={"order": "idle"}, created=NOW - 10, owner="c"),
        ],
        STRATEGY,
        NOW,
    )
    assert [w.request.id for w in line] == ["older", "mine"]
    m = choose_request(c, line, view_of(*TEAM), NOW)
    assert m is not None and m.request.id == "mine" and "known agent" in m.trace["why"]


def test_workers_with_shares_spread_over_the_best_agents_instead_of_racing():
    """Two workers deciding at once on the same view: each takes the longest idle agent of
    its own share among the best few, so they do not both pick the same one."""
    from router.ordering import in_share

    team = [agent(f"g{i}", skills={"booking": 1}, idle=i) for i in range(12)]
    r = request(customer={"order": "idle"})
    alone = decide(r, STRATEGY, view_of(*team), NOW)
    assert alone.candidates == ["g0"]  # no share: the longest idle of all
    picks = [decide(r, STRATEGY, view_of(*team), NOW, (k, 2)) for k in range(2)]
    chosen = [d.candidates[0] for d in picks]
    assert chosen[0] != chosen[1]
    for k, d in enumerate(picks):
        # the best agent of the worker's share
        own = [a.id for a in team if in_share(a.id, (k, 2))]
        assert d.candidates == [own[0]] and d.trace["share"] == f"worker {k + 1} of 2"
    assert "g0" in chosen


def test_a_share_without_an_eligible_agent_near_the_top_takes_the_best_one():
    from router.ordering import SHARE_WINDOW, in_share

    team = [agent(f"h{i:03}", skills={"booking": 1}, idle=i) for i in range(300)]
    theirs = [a for a in team if not in_share(a.id, (0, 2))]
    d = decide(request(customer={"order": "idle"}), STRATEGY, view_of(*theirs), NOW, (0, 2))
    assert d.candidates == [theirs[0].id]  # nobody of its own: the best of the others
    # only agents of its share far down the order: the best overall still wins
    ours = [a for a in team if in_share(a.id, (0, 2))]
    late = dataclasses.replace(ours[0], idle_since=10_000)
    assert len(theirs) > SHARE_WINDOW * 2
    view = view_of(*theirs[: SHARE_WINDOW * 2], late)
    d = decide(request(customer={"order": "idle"}), STRATEGY, view, NOW, (0, 2))
    assert d.candidates == [theirs[0].id]


def test_a_share_leaves_weighted_draws_and_preferred_agents_alone():
    team = [agent(f"w{i}", skills={"booking": 1}, idle=i) for i in range(12)]
    for order in ("wr", "pref"):
        r = request(customer={"order": order})
        plain = decide(r, STRATEGY, view_of(*team, *TEAM), NOW)
        shared = decide(r, STRATEGY, view_of(*team, *TEAM), NOW, (1, 2))
        assert shared.candidates == plain.candidates, order


def test_view_pools_kept_by_upserts_equal_pools_built_afresh():
    """``AgentView.upsert`` places an agent in every pool at once (each test made once per
    change): after a series of changes, every pool holds what a pool built from the final
    states holds, in the same order."""
    pools = [
        ("general", Channel.CHAT, "longest_idle", ""),
        ("booking", Channel.CHAT, "least_load", ""),
        ("booking", Channel.VOICE, "round_robin", ""),
        ("booking", Channel.CHAT, "highest_skill", "booking"),
        ("general", Channel.VOIP, "longest_idle", ""),
    ]
    kept = view_of(*TEAM)
    for p in pools:
        next(kept.ready(*p), None)  # build the pools before the changes
    changes = [
        agent("a", skills={"booking": 1}, idle=300, load={"chat": 3}, version=2),  # full
        agent("b", skills={"booking": 3}, idle=200, load={"voice": 1}, version=2),  # blocked
        agent("c", skills={"booking": 2}, idle=5, status="away", version=2),
        agent("x", skills={"booking": 1}, idle=1, last_offer=99, version=2),  # joins booking
        agent("c", skills={"booking": 2}, idle=5, load={"chat": 1}, version=3),  # back
        agent("d", skills={}, idle=7, cap={"voice": 1, "chat": 0}),  # no chat slot at all
        agent("a", skills={"booking": 1}, idle=300, load={"chat": 1}, version=1),  # older
    ]
    for state in changes:
        kept.upsert(state)
    fresh = view_of(*(kept.get(a) for a in ("a", "b", "c", "x", "d")))
    for p in pools:
        assert [s.id for s in kept.ready(*p)] == [s.id for s in fresh.ready(*p)], p
    # a is full (its older change ignored), b blocked by its call, d has no chat slot
    assert [s.id for s in kept.ready("general", Channel.CHAT, "longest_idle")] == ["x", "c"]
