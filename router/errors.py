"""The router's exceptions. Library errors are converted at the boundary."""

from __future__ import annotations


class RouterError(Exception):
    """Base of every error the router package raises on purpose."""


class StrategyError(RouterError):
    """A strategy failed validation; ``problems`` lists each one with its path."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid strategy:\n  " + "\n  ".join(problems))


class NotFound(RouterError):
    """An agent, request, offer or session id that does not exist."""


class InvalidInput(RouterError):
    """A value passed to the client API that cannot be right (empty id, bad channel...)."""


class RouterUnavailable(RouterError):
    """Redis cannot be reached; the message says where we tried."""
