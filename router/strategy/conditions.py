"""Rule conditions: rule-engine expressions over the facts of a routing request.

A condition such as ``customer.vip >= 2 and service == "sales"`` may use only
:data:`FACT_NAMES`; :func:`root_symbols` finds the names an expression reads (for the load
time check and the match cache key).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import SimpleNamespace
from typing import Any

import rule_engine
import rule_engine.ast


def context() -> rule_engine.Context:
    # Facts are passed as attribute namespaces: rule-engine deprecates dot syntax on
    # mappings (removed in 6.0) and `customer.vip` is the natural way to write rules.
    return rule_engine.Context(default_value=None, resolver=rule_engine.resolve_attribute)


def namespace(value: Any) -> Any:
    if isinstance(value, Mapping):
        return SimpleNamespace(**{str(k): namespace(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return [namespace(v) for v in value]
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


def root_symbols(rule: rule_engine.Rule) -> set[str]:
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
