"""Skills that cannot route anything: needed by the strategy but held by no agent, or held
by agents but used by no queue or rule - usually a typo on one side (`billng`, `saels`).

Warnings, not errors: a skill may be meant for agents not hired yet. The strategy file's
warnings carry its own path and line (`Problem.file`), the agents' the admin YAML's.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from admin_config.problems import Loc, Problem, warning
from admin_config.yamlsource import parse_yaml

if TYPE_CHECKING:
    from admin_config.validate import Draft


def _skill_keys(node: Any, loc: Loc) -> Iterator[tuple[Loc, str]]:
    skills = node.get("skills") if isinstance(node, dict) else None
    if isinstance(skills, dict):
        for skill in skills:
            yield (*loc, "skills", str(skill)), str(skill)


def strategy_skills(data: dict[str, Any]) -> list[tuple[Loc, str, str]]:
    """(YAML path, skill, what needs it) for every skill the strategy names: queue
    members, rule minimum levels, goal levels."""
    out = []
    queues = data.get("queues")
    if isinstance(queues, dict):
        for name, queue in queues.items():
            for loc, skill in _skill_keys(queue, ("queues", str(name))):
                out.append((loc, skill, f"queue {name} can never be served"))
    rules = data.get("rules")
    for i, rule in enumerate(rules if isinstance(rules, list) else []):
        if not isinstance(rule, dict):
            continue
        name = rule.get("name", f"rules[{i}]")
        for loc, skill in _skill_keys(rule.get("actions"), ("rules", i, "actions")):
            out.append((loc, skill, f"requests of rule {name} can never be served"))
        goals = rule.get("goals")
        for j, goal in enumerate(goals if isinstance(goals, list) else []):
            for loc, skill in _skill_keys(goal, ("rules", i, "goals", j)):
                out.append((loc, skill, f"this goal of rule {name} changes nothing"))
    return out


def skill_usage(draft: Draft) -> list[Problem]:
    """Warn about strategy skills no agent has and agent skills the strategy never uses."""
    strategy = draft.top.get("strategy")
    if not strategy or draft.source is None:
        return []
    path = draft.source.parent / strategy
    try:
        doc = parse_yaml(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return []  # `checks.strategy_file` reports it
    if doc.problems or not isinstance(doc.data, dict):
        return []
    needed = strategy_skills(doc.data)
    held: dict[str, list[int]] = {}
    for i, agent in draft.each("agents"):
        for skill in agent.skills:
            held.setdefault(skill, []).append(i)
    used = sorted({skill for _, skill, _ in needed})
    out = []
    for loc, skill, consequence in needed:
        if skill not in held:
            out.append(
                warning(
                    loc,
                    f"skill {skill!r}: no agent has it, so {consequence} "
                    f"(agents' skills: {', '.join(sorted(held)) or 'none'})",
                    line=doc.lines.get(loc),
                    file=str(path),
                )
            )
    for skill, agents in sorted(held.items()):
        if skill in used:
            continue
        for i in agents:
            out.append(
                warning(
                    ("agents", i, "skills", skill),
                    f"skill {skill!r} is used by no queue or rule of {strategy} "
                    f"(they use: {', '.join(used) or 'no skills'})",
                )
            )
    return out
