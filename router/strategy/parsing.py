"""Reading a strategy: YAML text in, a validated and compiled :class:`Strategy` out, or a
:class:`StrategyError` listing every problem with its path (``rules[1] (vip).goals[0]...``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pydantic
import rule_engine
import yaml

from router.errors import StrategyError
from router.strategy.compiled import Strategy
from router.strategy.conditions import FACT_NAMES, context, root_symbols
from router.strategy.schema import NAME_PATTERN, StrategyDef


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
    ctx = context()
    for i, r in enumerate(d.rules):
        where = f"rules[{i}] ({r.name})"
        if r.name in seen:
            problems.append(f"{where}.name: duplicate rule name {r.name!r}")
        seen.add(r.name)
        try:
            compiled = rule_engine.Rule(r.conditions, context=ctx)
        except rule_engine.RuleSyntaxError as e:
            token = f" near {e.token.value!r}" if getattr(e, "token", None) else " (incomplete)"
            problems.append(f"{where}.conditions: syntax error{token} in {r.conditions!r}")
        except rule_engine.EngineError as e:
            problems.append(f"{where}.conditions: {e.message} in {r.conditions!r}")
        else:
            unknown = root_symbols(compiled) - set(FACT_NAMES)
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
    return re.match(NAME_PATTERN, name) is not None


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
