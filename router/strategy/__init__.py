"""Routing strategies: YAML in, validated and compiled rules out. No Redis, no clock.

A strategy is an ordered list of rules. Each rule has CONDITIONS (a rule-engine
expression over the request, its customer and its session), ACTIONS (target queue,
priority, required skills, preferred agents, overflow target), GOALS (time steps that
widen the search: lower minimum levels, add a queue, raise priority, overflow) and an
ORDER for the agents. The first rule whose conditions hold wins (like TaskRouter filters).

``schema`` is the YAML format, ``conditions`` the rule-engine glue, ``compiled`` the
strategy decisions use, ``parsing`` reads and checks a strategy. See ``docs/strategy.md``
for the format and ``examples/strategy.yaml`` for an example.
"""

from router.strategy import grammar_tables

# rule-engine's parser tables shipped, before rule-engine is imported (~0.3 s of CPU less
# at every start: router.strategy.grammar_tables)
grammar_tables.install()

from router.strategy.compiled import Plan, Rule, Strategy, Target  # noqa: E402
from router.strategy.conditions import FACT_NAMES  # noqa: E402
from router.strategy.parsing import load_strategy_file, parse_strategy  # noqa: E402
from router.strategy.schema import (  # noqa: E402
    CHANNELS,
    ORDERS,
    Actions,
    Defaults,
    Goal,
    Order,
    QueueDef,
    RuleDef,
    StrategyDef,
)

__all__ = [
    "CHANNELS",
    "FACT_NAMES",
    "ORDERS",
    "Actions",
    "Defaults",
    "Goal",
    "Order",
    "Plan",
    "QueueDef",
    "Rule",
    "RuleDef",
    "Strategy",
    "StrategyDef",
    "Target",
    "load_strategy_file",
    "parse_strategy",
]
