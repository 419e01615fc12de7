"""What each router event changes in the report rows. Pure: no database here.

The sink loads the rows a batch of events touches (:func:`wanted` says which), folds the
events into them in stream order with :func:`apply`, and writes back the rows marked
dirty. Rows are plain dicts with the columns of :mod:`reports.schema`.

A row whose first event was trimmed from the stream before the sink read it (the sink
started late) is made from what the later event says, e.g. an answered contact whose
creation time is its answer time minus its wait.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from reports.events import SinkEvent

Row = dict[str, Any]
DEFAULT_TARGET_MS = 20_000
"""Service-level target of a queue the strategy does not name (the router's default)."""


@dataclass
class Context:
    """What folding needs besides the rows: the keyed hash of user ids, and the queues'
    service-level targets of the strategy in force (``strategy.loaded`` events change it;
    ``lookup`` gives a version's targets in ms, or None when it cannot tell)."""

    user_key: Callable[[str], str]
    lookup: Callable[[int], Mapping[str, int] | None] = lambda _version: None
    version: int | None = None
    targets: Mapping[str, int] = field(default_factory=dict)

    def load(self, version: int) -> None:
        self.version = version
        self.targets = self.lookup(version) or {}

    def target_ms(self, queue: str) -> int:
        return self.targets.get(queue, DEFAULT_TARGET_MS)


OFFER_ENDS = ("offer.rejected", "offer.timeout", "offer.failed", "offer.rescinded")


@dataclass
class Rows:
    """The rows a batch touches: loaded before folding, the dirty ones written after."""

    contacts: dict[str, Row] = field(default_factory=dict)
    offers: dict[str, Row] = field(default_factory=dict)
    sessions: dict[str, Row] = field(default_factory=dict)
    agent_periods: dict[str, Row] = field(default_factory=dict)
    open_periods: dict[str, str] = field(default_factory=dict)
    """Agent id -> id of the period the agent is in now."""
    dirty: dict[str, set[str]] = field(
        default_factory=lambda: {
            t: set() for t in ("contacts", "offers", "sessions", "agent_periods")
        }
    )

    def changed(self, table: str) -> list[Row]:
        """The rows of ``table`` to write back."""
        rows: dict[str, Row] = getattr(self, table)
        return [rows[k] for k in sorted(self.dirty[table])]


@dataclass(frozen=True)
class Wanted:
    """Keys of the rows a batch of events needs loaded."""

    requests: frozenset[str]
    offers: frozenset[str]
    sessions: frozenset[str]
    agents: frozenset[str]


def wanted(events: Iterable[SinkEvent]) -> Wanted:
    requests: set[str] = set()
    offers: set[str] = set()
    sessions: set[str] = set()
    agents: set[str] = set()
    for e in events:
        if e.type in HANDLERS:
            if e.get("request"):
                requests.add(e.get("request"))
            if e.get("to_request"):
                requests.add(e.get("to_request"))
            if e.type.startswith("offer.") and e.get("offer"):
                offers.add(e.get("offer"))
            if e.type.startswith("session.") and e.get("session"):
                sessions.add(e.get("session"))
            if e.type.startswith("agent.") and e.get("agent"):
                agents.add(e.get("agent"))
    return Wanted(frozenset(requests), frozenset(offers), frozenset(sessions), frozenset(agents))


def apply(rows: Rows, e: SinkEvent, ctx: Context) -> None:
    """Fold one event into the rows (events of other types change no row)."""
    handler = HANDLERS.get(e.type)
    if handler is not None:
        handler(rows, e, ctx)


def new_contact(request_id: str, e: SinkEvent, created_at: int) -> Row:
    return {
        "request_id": request_id,
        "session_id": e.get("session"),
        "channel": e.get("channel"),
        "service": e.get("service"),
        "queue": "",
        "created_at": created_at,
        "first_offer_at": None,
        "offers": 0,
        "no_answers": 0,
        "rejects": 0,
        "accepted_at": None,
        "agent": None,
        "wait_ms": None,
        "sl_target_ms": None,
        "in_sl": 0,
        "ended_at": None,
        "outcome": "waiting",
        "end_reason": "",
        "handle_ms": None,
        "wrapup_ms": None,
        "transferred_out": 0,
        "transferred_from": "",
    }


def _contact(rows: Rows, e: SinkEvent, request_id: str = "", created_at: int | None = None) -> Row:
    rid = request_id or e.get("request")
    row = rows.contacts.get(rid)
    if row is None:
        row = rows.contacts[rid] = new_contact(rid, e, e.at if created_at is None else created_at)
    rows.dirty["contacts"].add(rid)
    return row


def _offer(rows: Rows, e: SinkEvent) -> Row:
    oid = e.get("offer")
    row = rows.offers.get(oid)
    if row is None:
        row = rows.offers[oid] = {
            "offer_id": oid,
            "request_id": e.get("request"),
            "session_id": e.get("session"),
            "agent": e.get("agent"),
            "channel": e.get("channel"),
            "created_at": e.at,
            "ended_at": None,
            "outcome": "pending",
            "reason": "",
        }
    rows.dirty["offers"].add(oid)
    return row


def request_created(rows: Rows, e: SinkEvent, _k: Context) -> None:
    row = _contact(rows, e)
    row.update(
        session_id=e.get("session"),
        channel=e.get("channel"),
        service=e.get("service"),
        created_at=e.at,
    )


def _queue(row: Row, e: SinkEvent) -> None:
    """The contact's queue: the first of the queues it waits in (or was served from)."""
    try:
        queues = json.loads(e.get("queues") or "[]")
    except ValueError:
        queues = []
    if queues and isinstance(queues, list):
        row["queue"] = str(queues[0])[:128]


def request_queued(rows: Rows, e: SinkEvent, _k: Context) -> None:
    _queue(_contact(rows, e), e)


def offer_created(rows: Rows, e: SinkEvent, _k: Context) -> None:
    _offer(rows, e)
    row = _contact(rows, e)
    row["offers"] += 1
    _queue(row, e)
    if row["first_offer_at"] is None:
        row["first_offer_at"] = e.at
    if not row["service"]:
        row["service"] = e.get("service")


def offer_accepted(rows: Rows, e: SinkEvent, ctx: Context) -> None:
    offer = _offer(rows, e)
    offer.update(outcome="accepted", ended_at=e.at)
    wait = e.number("wait_ms")
    row = _contact(rows, e, created_at=e.at - (wait or 0))
    if wait is None:
        wait = e.at - row["created_at"]
    target = ctx.target_ms(row["queue"])
    row.update(
        accepted_at=e.at,
        agent=e.get("agent"),
        wait_ms=wait,
        outcome="answered",
        sl_target_ms=target,
        in_sl=int(wait <= target),
    )


def offer_ended(rows: Rows, e: SinkEvent, _k: Context) -> None:
    outcome = e.type.removeprefix("offer.")
    reason = e.get("reason")
    _offer(rows, e).update(outcome=outcome, ended_at=e.at, reason=reason[:200])
    row = _contact(rows, e)
    if outcome == "timeout" or (outcome == "failed" and reason == "no_answer"):
        row["no_answers"] += 1
    elif outcome == "rejected":
        row["rejects"] += 1


def contact_ended(rows: Rows, e: SinkEvent, _k: Context) -> None:
    handle = e.number("handle_ms")
    row = _contact(rows, e, created_at=e.at - (handle or 0))
    if row["accepted_at"] is None:  # its answer was trimmed before the sink read it
        row.update(
            accepted_at=e.at - (handle or 0),
            agent=e.get("agent"),
            outcome="answered",
            wait_ms=0,
        )
    row.update(
        ended_at=e.at,
        handle_ms=handle,
        wrapup_ms=e.number("wrapup_ms"),
        end_reason=e.get("reason")[:200],
    )
    if e.get("reason") == "transferred":
        row["transferred_out"] = 1


def request_cancelled(rows: Rows, e: SinkEvent, _k: Context) -> None:
    waited = e.number("waited_ms")
    row = _contact(rows, e, created_at=e.at - (waited or 0))
    if row["outcome"] != "waiting":
        return
    row.update(
        outcome="abandoned",
        ended_at=e.at,
        wait_ms=waited if waited is not None else e.at - row["created_at"],
        end_reason=e.get("reason")[:200],
    )


def request_overflowed(rows: Rows, e: SinkEvent, _k: Context) -> None:
    row = _contact(rows, e)
    if row["outcome"] != "waiting":
        return
    row.update(
        outcome="overflowed",
        ended_at=e.at,
        wait_ms=e.at - row["created_at"],
        end_reason=f"overflow to {e.get('destination')}"[:200],
    )


def request_transferred(rows: Rows, e: SinkEvent, _k: Context) -> None:
    old = _contact(rows, e)
    old["transferred_out"] = 1
    new = _contact(rows, e, request_id=e.get("to_request"))
    new.update(
        session_id=old["session_id"] or e.get("session"),
        channel=old["channel"] or e.get("channel"),
        service=old["service"],
        created_at=e.at,
        transferred_from=old["request_id"],
        queue=e.get("queue")[:128],
    )


def request_moved(rows: Rows, e: SinkEvent, _k: Context) -> None:
    """A supervisor moved the waiting contact: to a queue, it counts there from now on."""
    row = _contact(rows, e)
    if e.get("queue") and row["outcome"] == "waiting":
        row["queue"] = e.get("queue")[:128]


def _session(rows: Rows, e: SinkEvent) -> Row:
    sid = e.get("session")
    row = rows.sessions.get(sid)
    if row is None:
        row = rows.sessions[sid] = {
            "session_id": sid,
            "service": e.get("service"),
            "user_key": None,
            "opened_at": e.at,
            "closed_at": None,
            "disposition": "",
            "closed_by": "",
        }
    rows.dirty["sessions"].add(sid)
    return row


def session_opened(rows: Rows, e: SinkEvent, ctx: Context) -> None:
    row = _session(rows, e)
    row.update(opened_at=e.at, user_key=ctx.user_key(e.get("user")) if e.get("user") else None)


def session_closed(rows: Rows, e: SinkEvent, ctx: Context) -> None:
    row = _session(rows, e)
    if row["user_key"] is None and e.get("user"):
        row["user_key"] = ctx.user_key(e.get("user"))
    row.update(closed_at=e.at, disposition=e.get("disposition")[:200], closed_by=e.get("by")[:128])


def _close_period(rows: Rows, agent: str, at: int) -> None:
    pid = rows.open_periods.pop(agent, None)
    if pid is not None and pid in rows.agent_periods:
        period = rows.agent_periods[pid]
        period["end_at"] = max(at, period["start_at"])
        rows.dirty["agent_periods"].add(pid)


def agent_status(rows: Rows, e: SinkEvent, _k: Context) -> None:
    agent = e.get("agent")
    _close_period(rows, agent, e.at)
    rows.agent_periods[e.id] = {
        "id": e.id,
        "agent": agent,
        "status": e.get("status")[:16],
        "reason": e.get("reason")[:200],
        "start_at": e.at,
        "end_at": None,
    }
    rows.open_periods[agent] = e.id
    rows.dirty["agent_periods"].add(e.id)


def agent_removed(rows: Rows, e: SinkEvent, _k: Context) -> None:
    _close_period(rows, e.get("agent"), e.at)


def strategy_loaded(_rows: Rows, e: SinkEvent, ctx: Context) -> None:
    version = e.number("version")
    if version is not None:
        ctx.load(version)


HANDLERS: dict[str, Callable[[Rows, SinkEvent, Context], None]] = {
    "request.created": request_created,
    "request.queued": request_queued,
    "offer.created": offer_created,
    "offer.accepted": offer_accepted,
    **dict.fromkeys(OFFER_ENDS, offer_ended),
    "contact.ended": contact_ended,
    "request.cancelled": request_cancelled,
    "request.overflowed": request_overflowed,
    "request.transferred": request_transferred,
    "request.moved": request_moved,
    "session.opened": session_opened,
    "session.closed": session_closed,
    "agent.status": agent_status,
    "agent.removed": agent_removed,
    "strategy.loaded": strategy_loaded,
}
