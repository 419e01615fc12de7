"""Steady routing + chat load on one routing domain, through the router's client API (what
the chat service and the agent desktops call), for the cluster tests.

- customers: a new chat every ``every`` s; each customer message is appended with a client
  message id and, like the widget's outbox, sent again with the same id until it is
  acknowledged;
- agents: each polls its offers, accepts them (again after "Redis unavailable", the same
  accept), answers with one appended message, completes the contact.

What was acknowledged is recorded; :meth:`DomainLoad.check` says what must hold after any
fault: every acknowledged message in its transcript once, every accepted contact assigned
to exactly the agent that was told so, no agent left busy, no contact held twice.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from router.audit import audit
from router.client import RouterClient
from router.errors import RouterUnavailable
from router.model import AgentProfile


@dataclass
class Seen:
    lock: threading.Lock = field(default_factory=threading.Lock)
    acked: dict[str, tuple[str, str]] = field(default_factory=dict)
    """cmid -> (session, entry id) of every acknowledged message"""
    accepted: dict[str, str] = field(default_factory=dict)
    """request -> agent, for every accept an agent was told succeeded"""
    completed: set[str] = field(default_factory=set)
    sessions: list[str] = field(default_factory=list)
    unavailable: int = 0
    last_ok: float = 0.0


def _retry(seen: Seen, stop: threading.Event, call: Any, *args: Any, **kwargs: Any) -> Any:
    """Call until it is not "Redis unavailable" (a failover, a moving slot)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            out = call(*args, **kwargs)
            seen.last_ok = time.monotonic()
            return out
        except RouterUnavailable:
            with seen.lock:
                seen.unavailable += 1
            time.sleep(0.2)
    raise AssertionError(f"{call} kept failing for 60 s")


class DomainLoad:
    """The load of one domain: ``agents`` agents and a customer thread."""

    def __init__(self, url: str, domain: str, agents: int = 3, every: float = 0.2) -> None:
        self.url, self.domain, self.every = url, domain, every
        self.client = RouterClient.from_url(url, domain)
        self.agent_ids = [f"{domain}-agent{i}" for i in range(agents)]
        self.seen = Seen()
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []

    def setup(self) -> None:
        self.client.ensure_strategy()
        for a in self.agent_ids:
            self.client.upsert_agent(AgentProfile(id=a, name=a, capacity={"chat": 2}))
            self.client.heartbeat(a, source="desktop", ttl=3600)
            self.client.set_status(a, "available")

    def start(self) -> None:
        self.threads = [threading.Thread(target=self._customers, daemon=True)] + [
            threading.Thread(target=self._agent, args=(a,), daemon=True) for a in self.agent_ids
        ]
        for t in self.threads:
            t.start()

    def finish(self, drain_s: float = 20) -> None:
        """Stop new chats; let the agents take and complete what is still waiting."""
        self.stop.set()
        self.threads[0].join(30)
        deadline = time.monotonic() + drain_s
        while time.monotonic() < deadline and not self._drained():
            time.sleep(0.2)
        for t in self.threads[1:]:
            t.join(10)

    def _drained(self) -> bool:
        try:
            return not any(r.state.value in ("queued", "offered", "accepted")
                           for r in self._requests())  # fmt: skip
        except RouterUnavailable:
            return False

    def _requests(self) -> list[Any]:
        out = []
        for s in list(self.seen.sessions):
            out += self.client.session_requests(s)
        return out

    # --- the people -------------------------------------------------------------------

    def _customers(self) -> None:
        c = RouterClient.from_url(self.url, self.domain)
        n = 0
        while not self.stop.is_set():
            n += 1
            user = f"{self.domain}-u{n}"
            sub = _retry(self.seen, self.stop, c.submit, channel="chat", service="s", user_id=user)
            with self.seen.lock:
                self.seen.sessions.append(sub.session_id)
            self._say(c, sub.session_id, f"{user}-m1")
            time.sleep(self.every)
        c.close()

    def _say(self, c: RouterClient, session: str, cmid: str) -> None:
        """One message (its text is its client id), sent until acknowledged."""
        done = _retry(self.seen, self.stop, c.append, session,
                      {"type": "message", "text": cmid}, cmid=cmid)  # fmt: skip
        with self.seen.lock:
            self.seen.acked[cmid] = (session, done.entry_id)

    def _agent(self, agent: str) -> None:
        c = RouterClient.from_url(self.url, self.domain)
        quiet_since = None
        while True:
            try:
                offers = c.agent_offers(agent)
                c.heartbeat(agent, source="desktop", ttl=3600)
            except RouterUnavailable:
                time.sleep(0.2)
                continue
            if not offers:
                if self.stop.is_set():
                    quiet_since = quiet_since or time.monotonic()
                    if time.monotonic() - quiet_since > 3 and self._drained():
                        break
                time.sleep(0.05)
                continue
            quiet_since = None
            for offer in offers:
                result = _retry(self.seen, self.stop, c.accept, offer.id, agent)
                if not result.ok:
                    continue
                with self.seen.lock:
                    self.seen.accepted[result.request_id] = agent
                self._say(c, result.session_id, f"{offer.id}-reply")
                _retry(self.seen, self.stop, c.complete, result.request_id)
                with self.seen.lock:
                    self.seen.completed.add(result.request_id)
        c.close()

    # --- what must hold ---------------------------------------------------------------

    def check(self) -> dict[str, Any]:
        """Assert the guarantees; return figures for the test's message."""
        c = self.client
        seen = self.seen
        by_session: dict[str, list[dict[str, Any]]] = {}
        for session, _ in seen.acked.values():
            if session not in by_session:
                by_session[session] = _whole(c, session)
        for cmid, (session, entry_id) in seen.acked.items():
            ids = [e["id"] for e in by_session[session] if e.get("text") == cmid]
            assert ids == [entry_id], f"acknowledged message {cmid} found as {ids}"
        for request_id, agent in seen.accepted.items():
            r = c.request(request_id)
            assert r is not None, f"accepted request {request_id} is gone"
            assert r.agent == agent, f"{request_id} accepted by {agent} but held by {r.agent}"
        for a in self.agent_ids:
            state = c.agent(a)
            assert state is not None and state.busy == 0, f"{a} left busy: {state}"
            assert not c.agent_contacts(a), f"{a} still holds {c.agent_contacts(a)}"
        capacity = {a.id: dict(a.profile.capacity) for a in c.agents()}
        report = audit(c.read_events("0-0", None, 1_000_000), capacity)
        assert report.ok, report.problems
        return {
            "acked": len(seen.acked),
            "accepted": len(seen.accepted),
            "unavailable": seen.unavailable,
        }


def _whole(c: RouterClient, session: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while True:
        page = c.transcript(session, after=out[-1]["id"] if out else "0-0")
        out += page
        if len(page) < 1000:
            return out
