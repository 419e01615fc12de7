"""Bodies of the supervisor API (wall board, drill-down, forcing a status, moving a waiting
contact, the supervisor-actions report); also the source of their OpenAPI schemas."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from chat.api_models import AccountId, Body, Name, QueueStatsOut


class ForceStatusBody(Body):
    """Set an agent away (say why in ``reason``) or offline. With ``sign_out`` (offline
    only) the agent's desktop logins end too: their page goes to the login form."""

    status: Literal["away", "offline"]
    reason: Annotated[str, Field(max_length=200)] = ""
    sign_out: bool = False


class ForceStatusOut(Body):
    agent: str
    status: str
    reason: str
    previous: str
    """The status the agent had before."""
    signed_out: int
    """Desktop login sessions ended (``sign_out``)."""


class MoveBody(Body):
    """Where a waiting contact goes: exactly one of a ``queue`` or an agent (``agent_id``)."""

    queue: Name | None = None
    agent_id: AccountId | None = None


class MoveOut(Body):
    request: str
    previous: str
    """``queued`` or ``ringing`` (an offer that was taken back)."""
    queue: str
    agent_id: str


class BoardAgent(Body):
    """An agent on the board. ``activity``: ringing, busy, wrap-up, idle, away or offline;
    ``since`` when it started (ms, null when unknown), ``until`` the end of a wrap-up."""

    id: str
    name: str
    activity: str
    since: int | None
    until: int | None
    status: str
    reason: str
    contacts: int
    offers: int
    load: dict[str, int]
    capacity: dict[str, int]
    skills: dict[str, int]
    desktop: bool
    """The desktop's presence lease is alive."""
    phone: str
    """The phone's state (available, busy, offline) while the bridge reports it, else ''."""


class BoardOut(Body):
    """The live board (the ``board`` frame of /ws/supervisor without ``type``)."""

    now: int
    queues: list[QueueStatsOut]
    agents: list[BoardAgent]
    connections: dict[str, int]


class WaitingContactOut(Body):
    """A contact waiting in the queue (``state`` waiting) or ringing an agent (``ringing``)."""

    request: str
    session: str
    channel: str
    service: str
    customer: str
    created: int
    priority: int
    state: Literal["waiting", "ringing"]
    ringing: str
    """The agent it is offered to, while ringing."""
    waiting_for: str
    """A known agent it waits for first (the session's agent, or one it was moved to)."""
    moved: bool


class QueueDetailOut(Body):
    queue: str
    channel: str
    skills: dict[str, int]
    now: int
    contacts: list[WaitingContactOut]
    agents: list[BoardAgent]
    """The agents who serve the queue (every skill it names) on this channel."""


class WindowOut(Body):
    """Contacts whose wait ended in the window (and ``offered``: created in it)."""

    offered: int
    answered: int
    answered_in_sl: int
    abandoned: int
    overflowed: int
    service_level: float | None


class SeriesOut(Body):
    """One value per point of ``HistoryOut.points``."""

    waiting: list[int]
    service_level: list[float | None]
    """Over the 15 minutes before each point."""
    answered: list[int]
    abandoned: list[int]
    """In the minute before each point."""


class QueueHistoryOut(Body):
    queue: str
    channel: str
    windows: dict[Literal["15m", "1h"], WindowOut]
    series: SeriesOut


class HistoryOut(Body):
    """The last hour from the reports database (the ``board_history`` frame)."""

    now: int
    points: list[int]
    queues: list[QueueHistoryOut]
    as_of: int | None
    """Time (ms) of the newest event the reports sink has stored."""
    error: str | None = None


class ActionRow(Body):
    time: str
    """When, in the report's time zone (ISO 8601)."""
    at: int
    by: str
    action: str
    """``set away``, ``set offline`` or ``moved``."""
    agent: str
    request: str
    session: str
    channel: str
    status: str
    reason: str
    queue: str
    previous: str


class ActionsOut(Body):
    kind: Literal["supervisor-actions"]
    start: str
    end: str
    interval: str
    tz: str
    columns: list[str]
    rows: list[ActionRow]
