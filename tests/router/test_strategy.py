"""Strategy validation and rule/goal evaluation: pure, no Redis."""

from __future__ import annotations

import pytest

from router.errors import StrategyError
from router.strategy import Target, load_strategy_file, parse_strategy
from router.strategy.compiled import _facts_key

STRATEGY = """
defaults: {queue: general, offer_timeout: 15, known_agent_wait: 30}
queues:
  general: {}
  booking: {skills: {booking: 1}, service_level: 30}
  vip: {skills: {booking: 1, vip: 1}}
rules:
  - name: vip-booking
    conditions: service == "booking" and customer.vip >= 2
    actions: {queue: vip, priority: 10, skills: {booking: 3}, preferred_agents: [alice]}
    goals:
      - {after: 30, skills: {booking: 1}}
      - {after: 60, add_queue: booking, priority: 20}
      - {after: 120, overflow: voicemail}
    order: highest_skill
  - name: german
    conditions: '"de" in customer.tags'
    actions: {queue: booking, skills: {german: 2}, overflow: callback}
    goals:
      - {after: 10, overflow: true}
  - name: phone
    conditions: channel == "voice"
    actions: {queue: booking}
    order: round_robin
"""


def facts(**kw: object) -> dict[str, object]:
    base: dict[str, object] = {
        "channel": "chat",
        "service": "booking",
        "user_id": "u1",
        "priority": 0,
        "customer": {},
        "pbx": "",
        "session": {"owner": "", "returning": False},
    }
    base.update(kw)
    return base


@pytest.fixture(scope="module")
def strategy():
    return parse_strategy(STRATEGY, version=7)


@pytest.mark.parametrize(
    ("given", "rule"),
    [
        (facts(customer={"vip": 3}), "vip-booking"),
        (facts(customer={"vip": 1, "tags": ["de"]}), "german"),
        (facts(service="billing", customer={"vip": 3}, channel="voice"), "phone"),
        (facts(channel="chat"), None),
        # vip missing: the first rule fails to evaluate and is skipped with a note
        (facts(customer={"tags": ["de"]}), "german"),
    ],
)
def test_first_matching_rule_wins(strategy, given, rule):
    matched, _notes = strategy.match(given)
    assert (matched.name if matched else None) == rule


def test_rule_that_cannot_evaluate_is_noted(strategy):
    matched, notes = strategy.match(facts(customer={"tags": []}))
    assert matched is None
    assert any("vip-booking" in n for n in notes)


@pytest.mark.parametrize("vip", [float("nan"), "NaN", [3], {"a": 1}])
def test_a_fact_no_condition_can_compare_is_no_match_not_an_error(strategy, vip):
    """A NaN (the router client's JSON allows it) made rule-engine raise decimal's
    InvalidOperation out of the worker's decision; it is now a rule that does not apply."""
    matched, notes = strategy.match(facts(customer={"vip": vip}))
    assert matched is None
    assert any("vip-booking" in n for n in notes)


def test_match_cache_does_not_mix_up_facts(strategy):
    for _ in range(3):
        assert strategy.match(facts(customer={"vip": 3}))[0].name == "vip-booking"
        assert strategy.match(facts(customer={"vip": 0}))[0] is None


@pytest.mark.parametrize(
    ("waited", "step", "targets", "priority", "overflow", "next_after"),
    [
        (0, 0, [("vip", {"booking": 3, "vip": 1})], 10, None, 30),
        (29.9, 0, [("vip", {"booking": 3, "vip": 1})], 10, None, 30),
        (30, 1, [("vip", {"booking": 1, "vip": 1})], 10, None, 60),
        (61, 2, [("vip", {"booking": 1, "vip": 1}), ("booking", {"booking": 1})], 20, None, 120),
        (
            500,
            3,
            [("vip", {"booking": 1, "vip": 1}), ("booking", {"booking": 1})],
            20,
            "voicemail",
            None,
        ),
    ],
)
def test_goal_steps_widen_the_search(
    strategy, waited, step, targets, priority, overflow, next_after
):
    plan = strategy.plan(strategy.rule("vip-booking"), waited)
    assert plan.step == step
    assert [(t.queue, dict(t.skills)) for t in plan.targets] == targets
    assert plan.priority == priority
    assert plan.overflow == overflow
    assert plan.next_step_after == next_after
    assert plan.order == "highest_skill"
    assert plan.order_skill == "booking"
    assert plan.preferred_agents == ("alice",)
    assert plan.offer_timeout == 15


def test_overflow_true_uses_the_rules_destination(strategy):
    plan = strategy.plan(strategy.rule("german"), 11)
    assert plan.overflow == "callback"


def test_target_admits_by_minimum_levels():
    t = Target("q", (("booking", 2), ("german", 1)))
    assert t.admits({"booking": 2, "german": 5})
    assert not t.admits({"booking": 1, "german": 5})
    assert not t.admits({"booking": 3})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rules: [1, 2]", "rules[0]: Input should be a valid dictionary"),
        (
            "rules: [{name: a, actions: {queue: nope}}]",
            "rules[0] (a).actions.queue: unknown queue 'nope'",
        ),
        (
            "queues: {q: {}}\nrules: [{name: a, conditions: 'vip >=', actions: {queue: q}}]",
            "rules[0] (a).conditions: syntax error",
        ),
        (
            "queues: {q: {}}\nrules: [{name: a, conditions: 'vipp == 1', actions: {queue: q}}]",
            "rules[0] (a).conditions: unknown name(s) vipp",
        ),
        (
            "queues: {q: {}}\nrules: [{name: a, actions: {queue: q}, goals: [{after: 5, priority: 1}, {after: 3, priority: 2}]}]",
            "rules[0] (a).goals[1].after: goals must be in increasing time order",
        ),
        (
            "queues: {q: {}}\nrules: [{name: a, actions: {queue: q}, goals: [{after: 5}]}]",
            "goals[0]: a goal must change something",
        ),
        (
            "queues: {q: {}}\nrules: [{name: a, actions: {queue: q}, order: fastest}]",
            "rules[0] (a).order: Input should be",
        ),
        (
            "queues: {q: {}}\nrules: [{name: a, actions: {queue: q}}, {name: a, actions: {queue: q}}]",
            "rules[1] (a).name: duplicate rule name",
        ),
        (
            "queues: {q: {}}\nrules: [{name: a, actions: {queue: q}, order: highest_skill}]",
            "highest_skill needs a skill",
        ),
        ("defaults: {queue: x}", "defaults.queue: unknown queue 'x'"),
        ("defaults: {wrapup: {fax: 3}}", "unknown channel 'fax'"),
        (
            "queues: {q: {}}\nrules: [{name: a, actions: {queue: q, priority: 500}}]",
            "rules[0] (a).actions.priority",
        ),
        ("- just a list", "the strategy must be a YAML mapping"),
        ("rules: [", "not valid YAML"),
    ],
)
def test_validation_names_rule_and_field(text, expected):
    with pytest.raises(StrategyError) as err:
        parse_strategy(text)
    assert any(expected in p for p in err.value.problems), err.value.problems


def test_all_semantic_problems_reported_at_once():
    with pytest.raises(StrategyError) as err:
        parse_strategy(
            "queues: {q: {}}\nrules:\n"
            "  - {name: a, actions: {queue: x}}\n"
            "  - {name: b, conditions: 'nope == 1', actions: {queue: y}}\n"
        )
    assert len(err.value.problems) == 3


def test_strategy_file_errors_name_the_file(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("rules: [{name: a, actions: {queue: nope}}]")
    with pytest.raises(StrategyError) as err:
        load_strategy_file(path)
    assert str(path) in err.value.problems[0]
    with pytest.raises(StrategyError, match="cannot read"):
        load_strategy_file(tmp_path / "missing.yaml")


def test_example_strategy_is_valid():
    s = load_strategy_file("examples/strategy.yaml")
    assert s.rules


def test_match_cache_keys_tell_apart_what_orjson_writes_alike():
    """The cache key is orjson's JSON, which writes NaN and infinities as null: such facts
    get the json module's key, so they are not mixed up with a missing value; what orjson
    refuses (an integer beyond 64 bits) too."""
    keys = {
        _facts_key([{"vip": v}, "x"])
        for v in (None, float("nan"), float("inf"), float("-inf"), 2**70, 3, 3.0, True, "3")
    }
    assert len(keys) == 9
    assert _facts_key([{"b": 1, "a": 2}]) == _facts_key([{"a": 2, "b": 1}])  # keys sorted


def test_match_cache_on_facts_beyond_orjson(strategy):
    for _ in range(2):
        assert strategy.match(facts(customer={"vip": 3, "a": 2**70}))[0].name == "vip-booking"
        assert strategy.match(facts(customer={"vip": None}))[0] is None
