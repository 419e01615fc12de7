"""Request and response bodies of the admin HTTP API (also the source of its OpenAPI)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

AccountId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LoginBody(Body):
    username: AccountId
    password: Annotated[str, Field(min_length=1, max_length=1024)]
    role: Literal["agent", "admin"] = "agent"


class TokenOut(Body):
    token: str
    expires_in: int
    role: str


class RevokeBody(Body):
    """What to revoke: one ``token``, every session of ``account`` (with ``role``), or -
    with neither - the session of the token or cookie making the call."""

    token: Annotated[str, Field(min_length=1, max_length=4096)] | None = None
    account: AccountId | None = None
    role: Literal["agent", "admin"] = "agent"


class RevokeOut(Body):
    revoked: int
    """Live sessions ended (0 when the token's session had ended already)."""


class Me(Body):
    id: str
    role: str


class CustomerProfile(Body):
    """Who the customer is, as your site knows it: shown to agents beside the chat and
    handed to the routing strategy as customer facts (``customer.vip``...)."""

    name: Annotated[str, Field(max_length=200)] = ""
    language: Annotated[str, Field(pattern=r"^([A-Za-z]{2,3}([_-][A-Za-z0-9]{2,8})*)?$")] = ""
    tags: list[Annotated[str, Field(min_length=1, max_length=40)]] = Field(
        default_factory=list, max_length=20
    )
    vip: Annotated[int, Field(ge=0, le=10)] = 0


class CustomerTokenBody(Body):
    user_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@:+-]{0,127}$")]
    services: list[Name] = Field(default_factory=list, max_length=50)
    ttl: Annotated[int, Field(ge=60)] | None = None
    profile: CustomerProfile | None = None
    """Replaces the user's stored profile when given."""


class CannedReplyBody(Body):
    """A canned reply agents insert by typing ``/`` and its shortcut in the composer.
    ``{customer}`` and ``{agent}`` in the text become the customer's and the agent's name."""

    shortcut: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,31}$")]
    title: Annotated[str, Field(min_length=1, max_length=80)]
    text: Annotated[str, Field(min_length=1, max_length=4000)]


class CannedReplyOut(Body):
    id: str
    shortcut: str
    title: str
    text: str


class TransferAgentOut(Body):
    id: str
    name: str
    status: str
    free_chats: int


class TransferTargetsOut(Body):
    """Where a conversation may be handed on: the strategy's queues and the agents who
    are available for chat now (the caller left out)."""

    queues: list[str]
    agents: list[TransferAgentOut]


class HistoryHitOut(Body):
    session_id: str
    service: str
    session_created: int
    disposition: str
    id: str
    type: str
    at: int
    from_: Annotated[str, Field(alias="from")] = ""
    snippet: str


def _default_capacity() -> dict[Literal["voice", "chat"], int]:
    return {"voice": 1, "chat": 3}


class AgentBody(Body):
    """An agent's profile (router) plus, optionally, a new desktop password (chat)."""

    name: Annotated[str, Field(max_length=200)] = ""
    skills: dict[Name, Annotated[int, Field(ge=0, le=100)]] = Field(default_factory=dict)
    capacity: dict[Literal["voice", "chat"], Annotated[int, Field(ge=0, le=100)]] = Field(
        default_factory=_default_capacity
    )
    pbx: Annotated[str, Field(max_length=64)] = ""
    endpoint: Annotated[str, Field(max_length=128)] = ""
    password: Annotated[str, Field(min_length=8, max_length=1024)] | None = None


class AgentOut(Body):
    id: str
    name: str
    skills: dict[str, int]
    capacity: dict[str, int]
    pbx: str
    endpoint: str
    status: str
    reason: str
    load: dict[str, int]
    has_login: bool


class StrategyOut(Body):
    version: int


class QueueStatsOut(Body):
    queue: str
    channel: str = ""
    waiting: int
    longest_wait_s: float
    estimated_wait_s: float | None
    service_level: float | None
    """Share of answers within the queue's target over the last 15 minutes."""
    answered: int = 0
    free_agents: int = 0


class ErrorOut(Body):
    error: str
    message: str
    problems: list[str] | None = None
    """Every problem on its own line, when there are several (e.g. a strategy's)."""


CALL_TARGET = r"^(\+?[0-9]{2,32}|[A-Za-z0-9][A-Za-z0-9._-]{0,63})$"


class CallControlBody(Body):
    """A call-control request: `transfer` takes a target (an agent, a queue or a number),
    `consult` an agent or a number; the other actions none."""

    action: Literal[
        "hold", "resume", "mute", "unmute", "transfer", "consult", "complete", "cancel", "hangup"
    ]
    target_kind: Literal["agent", "queue", "number"] | None = None
    target: (
        Annotated[str, Field(pattern=r"^(\+?[0-9]{2,32}|[A-Za-z0-9][A-Za-z0-9._-]{0,63})$")] | None
    ) = None


class SuperviseBody(Body):
    mode: Literal["listen", "whisper", "barge", "stop"]
