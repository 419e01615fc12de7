"""A compiled strategy: which rule matches a request, and what its goal steps make of it
after some waiting. Pure: no Redis, no clock (callers pass the facts and the time waited).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import orjson
import rule_engine

from router.strategy.conditions import context, namespace, root_symbols
from router.strategy.schema import Defaults, QueueDef, RuleDef, StrategyDef


@dataclass(frozen=True)
class Target:
    """Where a request may be served: agents of ``queue`` holding ``skills`` at these levels."""

    queue: str
    skills: tuple[tuple[str, int], ...]

    def admits(self, agent_skills: Mapping[str, int]) -> bool:
        for s, lvl in self.skills:  # noqa: SIM110 - a loop, not all(genexpr): per candidate
            if agent_skills.get(s, -1) < lvl:
                return False
        return True


@dataclass(frozen=True)
class Plan:
    """What a rule says about a request that has waited ``waited`` seconds."""

    rule: str
    step: int
    """How many goal steps have been reached."""
    targets: tuple[Target, ...]
    priority: int
    order: str
    order_skill: str
    preferred_agents: tuple[str, ...]
    offer_timeout: float
    known_agent_wait: float
    overflow: str | None
    """Set once a goal says overflow: routing ends here."""
    next_step_after: float | None
    """Seconds since creation at which the next goal step is due."""

    @cached_property
    def queues(self) -> tuple[str, ...]:
        """The targets' queues, each once (worked out once per plan: a reservation each)."""
        return tuple(dict.fromkeys(t.queue for t in self.targets))


@dataclass(frozen=True)
class Rule:
    """A compiled rule: the definition plus its rule-engine expression."""

    definition: RuleDef
    expression: rule_engine.Rule

    @property
    def name(self) -> str:
        return self.definition.name


class Strategy:
    """A validated, compiled strategy. Pure: ``match`` and ``plan`` take data and time."""

    def __init__(self, definition: StrategyDef, version: int = 0, text: str = "") -> None:
        self.definition = definition
        self.version = version
        self.text = text
        ctx = context()
        self.rules = [
            Rule(r, rule_engine.Rule(r.conditions, context=ctx)) for r in definition.rules
        ]
        self._by_name: dict[str, Rule] = {}
        for r in self.rules:
            self._by_name.setdefault(r.name, r)  # the first of a name, as a search finds it
        self._symbols = sorted({s for r in self.rules for s in root_symbols(r.expression)})
        self._cache: dict[bytes | str, tuple[str | None, tuple[str, ...]]] = {}
        self._plans: dict[tuple[str, int], Plan] = {}

    @property
    def defaults(self) -> Defaults:
        return self.definition.defaults

    @property
    def queue_names(self) -> list[str]:
        return sorted(self.definition.queues)

    def queue(self, name: str) -> QueueDef:
        return self.definition.queues.get(name) or QueueDef()  # type: ignore[call-arg]

    def rule(self, name: str) -> Rule | None:
        return self._by_name.get(name)

    def match(self, facts: Mapping[str, Any]) -> tuple[Rule | None, tuple[str, ...]]:
        """The first rule whose conditions hold for ``facts``, and notes on rules that failed
        to evaluate (e.g. comparing a missing attribute). Cached on the facts the rules use."""
        key = _facts_key([facts.get(s) for s in self._symbols])
        hit = self._cache.get(key)
        if hit is None:
            hit = self._match(facts)
            if len(self._cache) > 100_000:
                self._cache.clear()
            self._cache[key] = hit
        name, notes = hit
        return (self.rule(name) if name else None), notes

    def _match(self, facts: Mapping[str, Any]) -> tuple[str | None, tuple[str, ...]]:
        notes: list[str] = []
        thing = namespace(facts)
        for r in self.rules:
            try:
                if r.expression.matches(thing):
                    return r.name, tuple(notes)
            except rule_engine.EngineError as e:
                notes.append(_not_applicable(r.name, e.message))
            except (TypeError, ValueError, AttributeError, ArithmeticError) as e:
                # rule-engine 4.x/5.x raises plain TypeErrors for some missing (None)
                # operands, e.g. `"de" in customer.tags` without tags, and decimal's
                # InvalidOperation comparing a NaN fact: treat as no match.
                notes.append(_not_applicable(r.name, str(e) or type(e).__name__))
        return None, tuple(notes)

    def plan(self, rule: Rule, waited: float) -> Plan:
        """Apply the rule's goal steps reached after ``waited`` seconds."""
        step = 0
        for goal in rule.definition.goals:
            if goal.after > waited:
                break
            step += 1
        key = (rule.name, step)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = self._plan(rule, waited)
        return plan

    def _plan(self, rule: Rule, waited: float) -> Plan:
        d = rule.definition
        a = d.actions
        levels: dict[str, int] = dict(a.skills)
        queues = [a.queue]
        priority = a.priority
        overflow: str | None = None
        step = 0
        next_after: float | None = None
        relax: dict[str, int] = {}
        for goal in d.goals:
            if goal.after > waited:
                next_after = goal.after
                break
            step += 1
            relax.update(goal.skills)
            if goal.add_queue and goal.add_queue not in queues:
                queues.append(goal.add_queue)
            if goal.priority is not None:
                priority = goal.priority
            if goal.overflow:
                overflow = (
                    goal.overflow
                    if isinstance(goal.overflow, str)
                    else (a.overflow if a.overflow is not None else self.defaults.overflow)
                )
                next_after = None
                break
        targets = []
        for i, q in enumerate(queues):
            need = dict(self.queue(q).skills)
            if i == 0:  # the rule's own skills narrow its first queue only
                need.update(levels)
            for skill in need:
                if skill in relax:
                    need[skill] = relax[skill]
            targets.append(Target(q, tuple(sorted(need.items()))))
        order_skill = next(iter(a.skills), "") or next(iter(self.queue(a.queue).skills), "")
        return Plan(
            rule=d.name,
            step=step,
            targets=tuple(targets),
            priority=priority,
            order=d.order,
            order_skill=order_skill,
            preferred_agents=tuple(a.preferred_agents),
            offer_timeout=a.offer_timeout or self.defaults.offer_timeout,
            known_agent_wait=(
                a.known_agent_wait
                if a.known_agent_wait is not None
                else self.defaults.known_agent_wait
            ),
            overflow=overflow,
            next_step_after=next_after,
        )

    def direct_plan(self, queue: str) -> Plan:
        """The plan of a request sent to ``queue`` by hand (transfer), outside the rules."""
        return Plan(
            rule=f"transfer:{queue}",
            step=0,
            targets=(Target(queue, tuple(sorted(self.queue(queue).skills.items()))),),
            priority=0,
            order="longest_idle",
            order_skill="",
            preferred_agents=(),
            offer_timeout=self.defaults.offer_timeout,
            known_agent_wait=0.0,
            overflow=None,
            next_step_after=None,
        )


def _not_applicable(rule: str, why: str) -> str:
    """A note for a rule whose condition cannot be evaluated on a request's facts: a normal
    outcome (a fact the rule compares is missing, e.g. no `customer.vip`), not an error."""
    return (
        f"rule {rule!r} does not apply: its condition cannot be evaluated on this "
        f"request's facts ({why}; usually a fact it compares is missing) - the next rule "
        "was tried"
    )


def _facts_key(values: list[Any]) -> bytes | str:
    """The cache key of a request's facts: sorted-key JSON by orjson (~10x less CPU than the
    json module's; a rule match per decision), by json where orjson would write ``null`` for
    something json tells apart (NaN, infinities) or refuses (an integer beyond 64 bits)."""
    try:
        key = orjson.dumps(
            values, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS, default=str
        )
    except TypeError:  # orjson.JSONEncodeError
        key = b"null"
    return key if b"null" not in key else json.dumps(values, sort_keys=True, default=str)
