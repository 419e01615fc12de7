"""Routing strategies: YAML in, validated and compiled rules out. No Redis, no clock.

A strategy is an ordered list of rules. Each rule has CONDITIONS (a rule-engine
expression over the request, its customer and its session), ACTIONS (target queue,
priority, required skills, preferred agents, overflow target), GOALS (time steps that
widen the search: lower minimum levels, add a queue, raise priority, overflow) and an
ORDER for the agents. The first rule whose conditions hold wins (like TaskRouter filters).

See ``docs/strategy.md`` for the format and ``examples/strategy.yaml`` for an example.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Literal

import pydantic
import rule_engine
import rule_engine.ast
import yaml
from pydantic import BaseModel, ConfigDict, Field

from router.errors import StrategyError

Order = Literal["longest_idle", "least_load", "highest_skill", "round_robin", "weighted_random"]
ORDERS: tuple[str, ...] = Order.__args__  # type: ignore[attr-defined]
CHANNELS = ("voice", "chat", "voip")
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Defaults(_Model):
    offer_timeout: float = Field(20.0, gt=0, le=600)
    """Seconds an agent has to accept an offer (or answer the phone)."""
    reject_delay: float = Field(10.0, ge=0, le=3600)
    """Seconds before a request rejected by an agent is offered to that agent again."""
    max_no_answer: int = Field(3, ge=0, le=100)
    """Missed offers in a row that set the agent away (0 = never)."""
    wrapup: dict[str, float] = Field(
        default_factory=lambda: {"voice": 10.0, "chat": 0.0, "voip": 10.0}
    )
    known_agent_wait: float = Field(20.0, ge=0, le=3600)
    """Seconds a returning customer waits for the session's own agent before anyone else."""
    queue: str | None = Field(None, pattern=_NAME)
    """Queue for requests no rule matches; without it they overflow to ``overflow``."""
    overflow: str = ""
    """Default overflow destination (the PBX bridge maps it, e.g. the entry point's)."""

    @pydantic.field_validator("wrapup")
    @classmethod
    def _wrapup_channels(cls, value: dict[str, float]) -> dict[str, float]:
        for ch, seconds in value.items():
            if ch not in CHANNELS:
                raise ValueError(f"unknown channel {ch!r} (use {', '.join(CHANNELS)})")
            if not 0 <= seconds <= 3600:
                raise ValueError(f"wrap-up for {ch} must be within 0..3600 seconds")
        return value


class QueueDef(_Model):
    skills: dict[str, int] = Field(default_factory=dict)
    """Agents holding every skill named here (any level) serve the queue; levels are minimums."""
    service_level: float = Field(20.0, gt=0)
    """Answer-within target in seconds, for the service-level figure."""


class Actions(_Model):
    queue: str = Field(pattern=_NAME)
    priority: int = Field(0, ge=-100, le=100)
    skills: dict[str, int] = Field(default_factory=dict)
    preferred_agents: list[str] = Field(default_factory=list)
    overflow: str | None = None
    offer_timeout: float | None = Field(None, gt=0, le=600)
    known_agent_wait: float | None = Field(None, ge=0, le=3600)


class Goal(_Model):
    after: float = Field(ge=0)
    """Seconds since the request was created."""
    skills: dict[str, int] = Field(default_factory=dict)
    """New minimum levels (usually lower) for skills of the rule or its queues."""
    add_queue: str | None = Field(None, pattern=_NAME)
    priority: int | None = Field(None, ge=-100, le=100)
    overflow: bool | str = False
    """``true``: overflow to the rule's destination; a string: to that destination."""


class RuleDef(_Model):
    name: str = Field(pattern=_NAME)
    conditions: str = "true"
    actions: Actions
    goals: list[Goal] = Field(default_factory=list)
    order: Order = "longest_idle"


class StrategyDef(_Model):
    version: int | str | None = None
    defaults: Defaults = Field(default_factory=Defaults)  # type: ignore[arg-type]
    queues: dict[str, QueueDef] = Field(default_factory=dict)
    rules: list[RuleDef] = Field(default_factory=list)


@dataclass(frozen=True)
class Target:
    """Where a request may be served: agents of ``queue`` holding ``skills`` at these levels."""

    queue: str
    skills: tuple[tuple[str, int], ...]

    def admits(self, agent_skills: Mapping[str, int]) -> bool:
        return all(agent_skills.get(s, -1) >= lvl for s, lvl in self.skills)


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

    @property
    def queues(self) -> tuple[str, ...]:
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
        context = _context()
        self.rules = [
            Rule(r, rule_engine.Rule(r.conditions, context=context)) for r in definition.rules
        ]
        self._symbols = sorted({s for r in self.rules for s in _root_symbols(r.expression)})
        self._cache: dict[str, tuple[str | None, tuple[str, ...]]] = {}
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
        return next((r for r in self.rules if r.name == name), None)

    def match(self, facts: Mapping[str, Any]) -> tuple[Rule | None, tuple[str, ...]]:
        """The first rule whose conditions hold for ``facts``, and notes on rules that failed
        to evaluate (e.g. comparing a missing attribute). Cached on the facts the rules use."""
        key = json.dumps([facts.get(s) for s in self._symbols], sort_keys=True, default=str)
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
        thing = _namespace(facts)
        for r in self.rules:
            try:
                if r.expression.matches(thing):
                    return r.name, tuple(notes)
            except rule_engine.EngineError as e:
                notes.append(_not_applicable(r.name, e.message))
            except (TypeError, ValueError, AttributeError) as e:
                # rule-engine 4.x/5.x raises plain TypeErrors for some missing (None)
                # operands, e.g. `"de" in customer.tags` without tags: treat as no match.
                notes.append(_not_applicable(r.name, str(e)))
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


def _context() -> rule_engine.Context:
    # Facts are passed as attribute namespaces: rule-engine deprecates dot syntax on
    # mappings (removed in 6.0) and `customer.vip` is the natural way to write rules.
    return rule_engine.Context(default_value=None, resolver=rule_engine.resolve_attribute)


def _namespace(value: Any) -> Any:
    if isinstance(value, Mapping):
        return SimpleNamespace(**{str(k): _namespace(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return [_namespace(v) for v in value]
    return value


def _children(node: object) -> Iterator[object]:
    names: list[str] = list(getattr(node, "__dict__", {}))
    for cls in type(node).__mro__:
        names.extend(getattr(cls, "__slots__", ()))
    for name in names:
        value = getattr(node, name, None)
        if isinstance(value, rule_engine.ast.ExpressionBase):
            yield value
        elif isinstance(value, list | tuple):
            yield from (v for v in value if isinstance(v, rule_engine.ast.ExpressionBase))


def _root_symbols(rule: rule_engine.Rule) -> set[str]:
    """Top-level names a rule reads (``customer`` for ``customer.vip``): the match cache key."""
    found: set[str] = set()
    stack: list[object] = [rule.statement.expression]
    while stack:
        node = stack.pop()
        if isinstance(node, rule_engine.ast.SymbolExpression):
            found.add(node.name)
        stack.extend(_children(node))
    return found


FACT_NAMES = ("channel", "service", "user_id", "priority", "customer", "pbx", "session")
"""Names a rule's conditions may use; anything else is a typo caught at load time."""


def _loc(loc: tuple[int | str, ...], raw: Mapping[str, Any]) -> str:
    parts: list[str] = []
    for i, p in enumerate(loc):
        if isinstance(p, int):
            parts[-1] += f"[{p}]"
            if loc[i - 1] == "rules" if i else False:
                name = _rule_name(raw, p)
                if name:
                    parts[-1] += f" ({name})"
        else:
            parts.append(str(p))
    return ".".join(parts)


def _rule_name(raw: Mapping[str, Any], index: int) -> str | None:
    rules = raw.get("rules")
    if isinstance(rules, list) and index < len(rules) and isinstance(rules[index], dict):
        name = rules[index].get("name")
        return str(name) if name else None
    return None


def parse_strategy(text: str, version: int = 0) -> Strategy:
    """Validate and compile a strategy from YAML text.

    Raises :class:`StrategyError` listing every problem, each with its path, e.g.
    ``rules[1] (vip).goals[0].after: ...`` or ``rules[0] (vip).conditions: syntax error``.
    """
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise StrategyError([f"not valid YAML: {e}"]) from e
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise StrategyError(["the strategy must be a YAML mapping with `rules:` (and `queues:`)"])
    try:
        definition = StrategyDef.model_validate(raw)
    except pydantic.ValidationError as e:
        raise StrategyError(
            [f"{_loc(err['loc'], raw)}: {err['msg']}" for err in e.errors()]
        ) from None
    problems = _check(definition)
    if problems:
        raise StrategyError(problems)
    return Strategy(definition, version=version, text=text)


def _check(d: StrategyDef) -> list[str]:
    problems: list[str] = []
    queues = set(d.queues)
    for qname, q in d.queues.items():
        if not _valid_name(qname):
            problems.append(f"queues.{qname}: bad queue name (letters, digits, '_', '.', '-')")
        for skill, lvl in q.skills.items():
            if lvl < 0:
                problems.append(f"queues.{qname}.skills.{skill}: level must be >= 0")
    if d.defaults.queue is not None and d.defaults.queue not in queues:
        problems.append(
            f"defaults.queue: unknown queue {d.defaults.queue!r} (known: {_known(queues)})"
        )
    seen: set[str] = set()
    context = _context()
    for i, r in enumerate(d.rules):
        where = f"rules[{i}] ({r.name})"
        if r.name in seen:
            problems.append(f"{where}.name: duplicate rule name {r.name!r}")
        seen.add(r.name)
        try:
            compiled = rule_engine.Rule(r.conditions, context=context)
        except rule_engine.RuleSyntaxError as e:
            token = f" near {e.token.value!r}" if getattr(e, "token", None) else " (incomplete)"
            problems.append(f"{where}.conditions: syntax error{token} in {r.conditions!r}")
        except rule_engine.EngineError as e:
            problems.append(f"{where}.conditions: {e.message} in {r.conditions!r}")
        else:
            unknown = _root_symbols(compiled) - set(FACT_NAMES)
            if unknown:
                problems.append(
                    f"{where}.conditions: unknown name(s) {', '.join(sorted(unknown))} "
                    f"(use {', '.join(FACT_NAMES)}; customer attributes are customer.<name>)"
                )
        a = r.actions
        if a.queue not in queues:
            problems.append(
                f"{where}.actions.queue: unknown queue {a.queue!r} (known: {_known(queues)})"
            )
        for skill, lvl in a.skills.items():
            if lvl < 0:
                problems.append(f"{where}.actions.skills.{skill}: level must be >= 0")
        queue_skills = d.queues[a.queue].skills if a.queue in d.queues else {}
        if r.order == "highest_skill" and not (a.skills or queue_skills):
            problems.append(
                f"{where}.order: highest_skill needs a skill in actions.skills or the queue"
            )
        last = -1.0
        for j, g in enumerate(r.goals):
            gw = f"{where}.goals[{j}]"
            if g.after <= last:
                problems.append(
                    f"{gw}.after: goals must be in increasing time order ({g.after} <= {last})"
                )
            last = g.after
            if g.add_queue and g.add_queue not in queues:
                problems.append(
                    f"{gw}.add_queue: unknown queue {g.add_queue!r} (known: {_known(queues)})"
                )
            if not (g.skills or g.add_queue or g.priority is not None or g.overflow):
                problems.append(
                    f"{gw}: a goal must change something (skills, add_queue, priority or overflow)"
                )
            for skill, lvl in g.skills.items():
                if lvl < 0:
                    problems.append(f"{gw}.skills.{skill}: level must be >= 0")
    return problems


def _valid_name(name: str) -> bool:
    import re

    return re.match(_NAME, name) is not None


def _known(names: set[str]) -> str:
    return ", ".join(sorted(names)) or "none defined"


def load_strategy_file(path: str | Path) -> Strategy:
    """Read and validate a strategy file; problems name the file, rule and field."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise StrategyError([f"{p}: cannot read strategy file: {e.strerror}"]) from e
    try:
        return parse_strategy(text)
    except StrategyError as e:
        raise StrategyError([f"{p}: {problem}" for problem in e.problems]) from None


def _not_applicable(rule: str, why: str) -> str:
    """A note for a rule whose condition cannot be evaluated on a request's facts: a normal
    outcome (a fact the rule compares is missing, e.g. no `customer.vip`), not an error."""
    return (
        f"rule {rule!r} does not apply: its condition cannot be evaluated on this "
        f"request's facts ({why}; usually a fact it compares is missing) - the next rule "
        "was tried"
    )
