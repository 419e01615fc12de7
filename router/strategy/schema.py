"""The strategy's YAML schema (pydantic): defaults, queues, rules with actions and goals.

Field-level validation lives here; checks across fields (known queues, rule conditions,
goal order) are in :mod:`router.strategy.parsing`. See ``docs/strategy.md``.
"""

from __future__ import annotations

from typing import Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field

Order = Literal["longest_idle", "least_load", "highest_skill", "round_robin", "weighted_random"]
ORDERS: tuple[str, ...] = Order.__args__  # type: ignore[attr-defined]
CHANNELS = ("voice", "chat", "voip")
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


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
    queue: str | None = Field(None, pattern=NAME_PATTERN)
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
    queue: str = Field(pattern=NAME_PATTERN)
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
    add_queue: str | None = Field(None, pattern=NAME_PATTERN)
    priority: int | None = Field(None, ge=-100, le=100)
    overflow: bool | str = False
    """``true``: overflow to the rule's destination; a string: to that destination."""


class RuleDef(_Model):
    name: str = Field(pattern=NAME_PATTERN)
    conditions: str = "true"
    actions: Actions
    goals: list[Goal] = Field(default_factory=list)
    order: Order = "longest_idle"


class StrategyDef(_Model):
    version: int | str | None = None
    defaults: Defaults = Field(default_factory=Defaults)  # type: ignore[arg-type]
    queues: dict[str, QueueDef] = Field(default_factory=dict)
    rules: list[RuleDef] = Field(default_factory=list)
