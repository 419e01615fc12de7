"""AMI event filters: what the bridge asks Asterisk to send it, as `Filter` actions."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EventFilter:
    """An advanced AMI event filter (`Filter` with `MatchCriteria`, Asterisk 22).

    `criteria` like `name(Hangup)` or `name(UserEvent),header(UserEvent),method(starts_with)`;
    `expression` what the header must match (empty: the name alone decides). Asterisk finds
    a `name(...)` filter by a hash of the event name and compares one header, where a
    plain filter is a regex run over the whole text of every event of the session's
    classes - which costs Asterisk CPU on each of the dozens of events a call makes."""

    criteria: str
    expression: str = ""


def filter_action(expression: str | EventFilter) -> dict[str, str]:
    """The AMI `Filter` action that adds `expression` to the session's filters."""
    if isinstance(expression, EventFilter):
        return {
            "Action": "Filter",
            "Operation": "Add",
            "MatchCriteria": expression.criteria,
            "Filter": expression.expression,
        }
    return {"Action": "Filter", "Operation": "Add", "Filter": expression}
