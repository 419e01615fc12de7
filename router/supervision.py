"""What a supervisor does to live routing, and the reads behind the wall board.

Two state changes, each one atomic Lua script (``router/lua/force_status.lua``,
``router/lua/move_request.lua``): force an agent away or offline, and move a waiting
contact to another queue or agent. Both say who did it (``by``) in the event they emit
(``agent.status``, ``request.moved``) and, for a contact, in its session's transcript.

The reads give the wall board what :meth:`router.client.RouterOps.queue_stats` does not:
each agent's activity with the time it started, and the contacts waiting in one queue
(drill-down). Like the client, every operation is a sans-I/O generator
(:mod:`router.ops`); :class:`Supervision` runs them with a :class:`RouterClient`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from router.client import Result, RouterClient, RouterOps
from router.client.values import channel_of, check_id, result_of
from router.errors import InvalidInput
from router.model import AgentState, AgentStatus, Offer, RoutingRequest, as_int
from router.ops import Batch, Op, Script, cmd, pairs

FORCED_STATUSES = ("away", "offline")
"""What a supervisor may set an agent to (only the agent makes themselves available)."""
MAX_REASON = 200
WAITING_LIMIT = 200
"""Waiting contacts listed per queue and channel, oldest first."""

ACTIVITIES = ("ringing", "busy", "wrap-up", "idle", "away", "offline")
"""An agent's activity on the board, in the order the board lists them."""


@dataclass(frozen=True)
class AgentActivity:
    """What an agent is doing now and since when (ms; 0 when unknown)."""

    agent: AgentState
    activity: str
    since: int
    contacts: int
    offers: int
    until: int = 0
    """End of the wrap-up (ms) while ``activity`` is ``wrap-up``."""


@dataclass(frozen=True)
class WaitingContact:
    """A routing request waiting in a queue, or ringing an agent (``offered_to``)."""

    request: RoutingRequest
    offered_to: str = ""
    offered_at: int = 0


def activity_of(
    agent: AgentState,
    now_ms: int,
    status_at: int = 0,
    contacts_since: int = 0,
    contacts: int = 0,
    offers: int = 0,
) -> AgentActivity:
    """The agent's activity: offline (status offline or no desktop), away, wrap-up, busy
    (handling contacts), ringing (offers pending, no contact), idle. Pure.

    ``status_at`` is when the status last changed, ``contacts_since`` when the oldest
    contact in progress was answered."""
    logged_in = agent.status is not AgentStatus.OFFLINE and agent.leases.get("desktop", 0) > now_ms
    if not logged_in:
        return AgentActivity(agent, "offline", status_at, contacts, offers)
    if agent.status is AgentStatus.AWAY:
        return AgentActivity(agent, "away", status_at, contacts, offers)
    if contacts:
        return AgentActivity(agent, "busy", contacts_since, contacts, offers)
    if offers:
        return AgentActivity(agent, "ringing", agent.last_offer, contacts, offers)
    if agent.wrapup_until > now_ms:
        return AgentActivity(agent, "wrap-up", 0, contacts, offers, until=agent.wrapup_until)
    return AgentActivity(agent, "idle", max(agent.idle_since, status_at), contacts, offers)


def force_status(
    ops: RouterOps, agent_id: str, status: str, reason: str = "", by: str = ""
) -> Op[Result]:
    """Set an agent away (a reason is required) or offline, as supervisor ``by``. Offers
    ringing the agent go back to their queues at once. The result's ``request_id`` holds
    the previous status."""
    if status not in FORCED_STATUSES:
        raise InvalidInput(
            f"status must be away or offline (only the agent makes themselves available), "
            f"got {status!r}"
        )
    reason = (reason or "").strip()
    if status == "away" and not reason:
        raise InvalidInput("say why the agent is set away (reason), e.g. 'meeting'")
    if len(reason) > MAX_REASON:
        raise InvalidInput(f"the reason is limited to {MAX_REASON} characters")
    reply = yield Script(
        "force_status",
        (check_id("agent id", agent_id), status, reason, check_id("supervisor", by)),
    )
    return result_of(reply)


def move_request(
    ops: RouterOps, request_id: str, *, queue: str = "", agent_id: str = "", by: str = ""
) -> Op[Result]:
    """Move a waiting (queued or ringing) request to ``queue`` or to ``agent_id``, as
    supervisor ``by``. Refused (a normal result) once an agent answered it, or when the
    agent is not logged in. The result's ``request_id`` holds the previous state."""
    if bool(queue) == bool(agent_id):
        raise InvalidInput("move to exactly one of queue or agent_id")
    if queue:
        check_id("queue", queue)
        strategy = yield from ops.strategy()
        known = set(strategy.queue_names) | set((yield cmd("SMEMBERS", ops.keys.queues())))
        if queue not in known:
            raise InvalidInput(
                f"no queue {queue!r}: the strategy has {', '.join(sorted(known)) or 'none'}"
            )
    if agent_id:
        check_id("agent id", agent_id)
    reply = yield Script(
        "move_request",
        (check_id("request id", request_id), queue, agent_id, check_id("supervisor", by)),
    )
    return result_of(reply)


def agent_activities(ops: RouterOps) -> Op[list[AgentActivity]]:
    """Every configured agent with its activity, sorted by agent id."""
    ids = sorted((yield cmd("SMEMBERS", ops.keys.agents())))
    if not ids:
        return []
    hashes = yield Batch(tuple(cmd("HGETALL", ops.keys.agent(a)) for a in ids))
    rows = [pairs(h) for h in hashes if h]
    sets = yield Batch(
        tuple(
            step
            for h in rows
            for step in (
                cmd("SMEMBERS", ops.keys.agent_contacts(h["id"])),
                cmd("SCARD", ops.keys.agent_offers(h["id"])),
            )
        )
    )
    contact_ids = [sorted(sets[2 * i]) for i in range(len(rows))]
    flat = [rid for ids_ in contact_ids for rid in ids_]
    answered = (
        (yield Batch(tuple(cmd("HGET", ops.keys.request(r), "accepted_at") for r in flat)))
        if flat
        else []
    )
    answered_at = dict(zip(flat, answered, strict=True))
    now = ops.clock()
    out = []
    for i, h in enumerate(rows):
        times = [as_int(answered_at[r]) for r in contact_ids[i] if answered_at.get(r)]
        out.append(
            activity_of(
                AgentState.from_hash(h),
                now,
                status_at=as_int(h.get("status_at")),
                contacts_since=min(times, default=0),
                contacts=len(contact_ids[i]),
                offers=int(sets[2 * i + 1]),
            )
        )
    return out


def waiting_contacts(
    ops: RouterOps, queue: str, channel: str, agents: Iterable[str] = (), limit: int = WAITING_LIMIT
) -> Op[list[WaitingContact]]:
    """The requests waiting in ``queue`` on ``channel``, oldest first, then those of them
    ringing one of ``agents`` (offered requests leave their queues while they ring)."""
    ch = channel_of(channel)
    qkey = ops.keys.queue(check_id("queue", queue), ch.value)
    ids = yield cmd("ZRANGE", qkey, 0, max(0, min(limit, WAITING_LIMIT) - 1))
    waiting = yield from _requests(ops, list(ids))
    out = [WaitingContact(r) for r in waiting if r.channel is ch]
    agent_ids = sorted(set(agents))
    if not agent_ids:
        return out
    offer_sets = yield Batch(tuple(cmd("SMEMBERS", ops.keys.agent_offers(a)) for a in agent_ids))
    offer_ids = sorted({o for s in offer_sets for o in s})
    if not offer_ids:
        return out
    offers = [
        Offer.from_hash(pairs(h))
        for h in (yield Batch(tuple(cmd("HGETALL", ops.keys.offer(o)) for o in offer_ids)))
        if h
    ]
    ringing = [o for o in offers if o.channel is ch]
    requests = {r.id: r for r in (yield from _requests(ops, [o.request_id for o in ringing]))}
    for o in sorted(ringing, key=lambda o: o.created):
        r = requests.get(o.request_id)
        if r is not None and r.state.value == "offered" and queue in r.queues:
            out.append(WaitingContact(r, offered_to=o.agent_id, offered_at=o.created))
    return out


def _requests(ops: RouterOps, ids: list[str]) -> Op[list[RoutingRequest]]:
    if not ids:
        return []
    replies = yield Batch(tuple(cmd("HGETALL", ops.keys.request(r)) for r in ids))
    return [RoutingRequest.from_hash(pairs(h)) for h in replies if h]


class Supervision:
    """The supervisor operations on a synchronous :class:`RouterClient`."""

    def __init__(self, client: RouterClient) -> None:
        self.client = client

    def force_status(self, agent_id: str, status: str, reason: str = "", by: str = "") -> Result:
        """See :func:`force_status`."""
        return self.client.run(force_status(self.client.ops, agent_id, status, reason, by))

    def move_request(
        self, request_id: str, *, queue: str = "", agent_id: str = "", by: str = ""
    ) -> Result:
        """See :func:`move_request`."""
        return self.client.run(
            move_request(self.client.ops, request_id, queue=queue, agent_id=agent_id, by=by)
        )

    def agent_activities(self) -> list[AgentActivity]:
        """See :func:`agent_activities`."""
        return self.client.run(agent_activities(self.client.ops))

    def waiting_contacts(
        self, queue: str, channel: str, agents: Iterable[str] = (), limit: int = WAITING_LIMIT
    ) -> list[WaitingContact]:
        """See :func:`waiting_contacts`."""
        return self.client.run(waiting_contacts(self.client.ops, queue, channel, agents, limit))


__all__ = [
    "ACTIVITIES",
    "FORCED_STATUSES",
    "AgentActivity",
    "Supervision",
    "WaitingContact",
    "activity_of",
    "agent_activities",
    "force_status",
    "move_request",
    "waiting_contacts",
]
