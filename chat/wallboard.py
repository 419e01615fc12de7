"""The supervisor's wall board: what it shows, built once per push for every supervisor.

- ``board`` (live, from the router's Redis): per queue and channel the waiting contacts,
  longest and estimated wait (:meth:`router.client.RouterOps.queue_stats`); every agent
  with its activity (ringing, busy, wrap-up, idle, away, offline) and since when
  (:mod:`router.supervision`).
- ``board_history`` (the recent past, from the reports database the sink fills): per
  queue and channel the last 15 minutes and hour - offered, answered, abandoned, service
  level - and a point per minute over the hour of the waiting contacts and the service
  level (:mod:`reports.live`, which says why the reports database and not Redis).
- a queue's drill-down: its waiting and ringing contacts and the agents who serve it.

Times are milliseconds on the server's clock; each frame carries ``now`` so pages count
durations on from it whatever their own clock says.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from chat.errors import BadInput, NotFoundError, Unavailable
from chat.service import converted
from reports import schema
from reports.errors import ReportsError
from reports.live import recent
from router.strategy import CHANNELS
from router.supervision import AgentActivity, Supervision, WaitingContact

if TYPE_CHECKING:
    from chat.context import Context
    from chat.reports_api import ReportsAccess

log = logging.getLogger(__name__)

BOARD_EVENTS = ("request.", "offer.", "contact.", "agent.")
"""Router events after which the live board is pushed again (soon, not per event)."""


def now_ms() -> int:
    return int(time.time() * 1000)


def agent_row(a: AgentActivity, now: int) -> dict[str, Any]:
    """An agent as the board shows it."""
    s, p = a.agent, a.agent.profile
    phone_up = s.leases.get("sip", 0) > now
    return {
        "id": p.id,
        "name": p.name,
        "activity": a.activity,
        "since": a.since or None,
        "until": a.until or None,
        "status": s.status.value,
        "reason": s.reason,
        "contacts": a.contacts,
        "offers": a.offers,
        "load": dict(s.load),
        "capacity": dict(p.capacity),
        "skills": dict(p.skills),
        "desktop": s.leases.get("desktop", 0) > now,
        "phone": s.devices.get("sip", "") if phone_up else "",
    }


def contact_row(w: WaitingContact) -> dict[str, Any]:
    """A waiting (or ringing) contact as the drill-down shows it."""
    r = w.request
    return {
        "request": r.id,
        "session": r.session_id,
        "channel": r.channel.value,
        "service": r.service,
        "customer": r.user_id,
        "created": r.created,
        "priority": r.priority,
        "state": "ringing" if w.offered_to else "waiting",
        "ringing": w.offered_to,
        "waiting_for": r.force_agent or r.owner,
        "moved": bool(r.forced_at),
    }


class Wallboard:
    """Builds the board's frames; the history is cached for ``history_interval`` s."""

    def __init__(
        self, c: Context, reports: ReportsAccess | None, history_interval: float = 5.0
    ) -> None:
        self.c = c
        self.reports = reports
        self.supervision = Supervision(c.router)
        self.history_interval = history_interval
        self.changed = threading.Event()
        """Set by the event fan-out when the live board may have changed."""
        self._lock = threading.Lock()
        self._history: dict[str, Any] | None = None
        self._history_at = 0.0

    def live(self) -> dict[str, Any]:
        """The ``board`` frame: queues, agents by activity, connections, ``now``."""
        with converted():
            agents = self.supervision.agent_activities()
        now = now_ms()
        return {
            "type": "board",
            "now": now,
            "queues": [q.model_dump() for q in self.c.admin.queue_stats()],
            "agents": [agent_row(a, now) for a in agents],
            "connections": self.c.hub.count(),
        }

    def queue_detail(self, queue: str, channel: str) -> dict[str, Any]:
        """One queue and channel: contacts waiting (oldest first) then ringing, and the
        agents who serve the queue (every skill it names) on that channel."""
        if channel not in CHANNELS:
            raise BadInput(f"channel must be one of {', '.join(CHANNELS)}, got {channel!r}")
        with converted():
            strategy = self.c.router.strategy()
            ever = self.c.router.redis.smembers(self.c.router.keys.queues())
            known = set(strategy.queue_names) | {str(q) for q in ever}
            if queue not in known:
                raise NotFoundError(
                    f"no queue {queue!r}: the strategy has {', '.join(sorted(known)) or 'none'}"
                )
            skills = strategy.queue(queue).skills
            slot = "voice" if channel == "voip" else channel
            agents = [
                a
                for a in self.supervision.agent_activities()
                if set(skills) <= a.agent.profile.skills.keys()
                and a.agent.profile.capacity.get(slot, 0) > 0
            ]
            contacts = self.supervision.waiting_contacts(
                queue, channel, agents=[a.agent.id for a in agents]
            )
        now = now_ms()
        return {
            "queue": queue,
            "channel": channel,
            "skills": dict(skills),
            "now": now,
            "contacts": [contact_row(w) for w in contacts],
            "agents": [agent_row(a, now) for a in agents],
        }

    def history(self, max_age: float | None = None) -> dict[str, Any]:
        """The ``board_history`` frame, at most ``max_age`` s old (default the interval).
        When the reports database cannot be read it says so in ``error``."""
        age = self.history_interval if max_age is None else max_age
        with self._lock:
            if self._history is not None and time.monotonic() - self._history_at < age:
                return self._history
        frame = self._query()
        with self._lock:
            self._history, self._history_at = frame, time.monotonic()
        return frame

    def _query(self) -> dict[str, Any]:
        from chat.reports_api import off_loop

        now = now_ms()
        if self.reports is None:
            return history_error(now, "no reports database is configured")
        try:
            return {"type": "board_history", **off_loop(self._read, now)}
        except (ReportsError, Unavailable) as e:
            return history_error(now, str(e))
        except sa.exc.SQLAlchemyError as e:
            log.warning("board history: %s", e)
            return history_error(now, "the reports database did not answer (see the log)")

    def _read(self, now: int) -> dict[str, Any]:
        assert self.reports is not None
        with self.reports.engine().connect() as conn:
            board = recent(conn, now)
            last = conn.execute(
                sa.select(schema.meta.c.value).where(schema.meta.c.key == "last_id")
            ).scalar()
        board["as_of"] = int(str(last).split("-")[0]) if last else None
        return board


def history_error(now: int, why: str) -> dict[str, Any]:
    """A ``board_history`` frame that says why there is no history (and what to do)."""
    return {
        "type": "board_history",
        "now": now,
        "error": f"{why}: the last hour needs `implus reports sink` running (docs/reports.md)",
        "points": [],
        "queues": [],
        "as_of": None,
    }


def wallboard(c: Context) -> Wallboard:
    """The process's Wallboard (made by :func:`chat.supervisor_api.init_app`)."""
    board = c.wallboard
    if board is None:
        raise Unavailable("the wall board is not set up in this process")
    return board
