"""Router events written by hand, as the events stream holds them (imported by the tests)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
"""A Monday, 08:00 UTC: the known sequences start here."""


def ms(minute: float = 0, second: float = 0, hour: int = 8) -> int:
    """Milliseconds at hour:minute:second on T0's day (UTC)."""
    base = T0.replace(hour=hour)
    return int(base.timestamp() * 1000 + minute * 60_000 + second * 1000)


class Feed:
    """Stream entries (id, fields) in order; ids are <at ms>-<n> like Redis's."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, dict[str, str]]] = []

    def add(self, at: int, kind: str, /, **fields: Any) -> str:
        entry_id = f"{at}-{len(self.entries)}"
        self.entries.append(
            (entry_id, {"type": kind, "at": str(at), **{k: str(v) for k, v in fields.items()}})
        )
        return entry_id


def contact(
    f: Feed,
    rid: str,
    sid: str,
    at: int,
    *,
    channel: str,
    service: str,
    queue: str,
    user: str = "",
) -> None:
    """A request arriving and queuing (with its session opening when ``user`` is given)."""
    if user:
        f.add(at, "session.opened", session=sid, user=user, service=service)
    f.add(at, "request.created", request=rid, session=sid, channel=channel, service=service,
          user=user or "u", pbx="", call_id="")  # fmt: skip
    f.add(at, "request.queued", request=rid, session=sid, channel=channel,
          queues=f'["{queue}"]', rule="r", step="0", pinned="")  # fmt: skip


def offer(f: Feed, oid: str, rid: str, sid: str, agent: str, at: int, channel: str) -> None:
    f.add(at, "offer.created", offer=oid, request=rid, session=sid, agent=agent,
          channel=channel, deadline=at + 20_000, user="u", service="s", callback="+4420")  # fmt: skip


def accept(f: Feed, oid: str, rid: str, sid: str, agent: str, at: int, channel: str,
           waited: int) -> None:  # fmt: skip
    f.add(at, "offer.accepted", offer=oid, request=rid, session=sid, agent=agent,
          channel=channel, wait_ms=waited)  # fmt: skip
    f.add(at, "session.event", session=sid, entry=f"{at}-9", etype="assigned",
          data=f'{{"agent": "{agent}", "request": "{rid}", "wait_ms": {waited}}}')  # fmt: skip


def ended(f: Feed, rid: str, sid: str, agent: str, at: int, channel: str, handle: int,
          wrapup: int, reason: str = "hung up") -> None:  # fmt: skip
    f.add(at, "contact.ended", request=rid, session=sid, agent=agent, channel=channel,
          reason=reason, handle_ms=handle, wrapup_ms=wrapup)  # fmt: skip


def known_sequence() -> Feed:
    """Two hours of a small contact centre, 08:00-10:00 UTC on T0's day. The figures the
    tests expect are worked out by hand in tests/reports/test_figures.py."""
    f = Feed()
    for agent in ("alice", "bob"):
        f.add(ms(0), "agent.status", agent=agent, status="available", reason="", previous="offline")
    # C1: voice call to booking, alice answers after 10 s, talks 3 min, 30 s wrap-up.
    contact(f, "c1", "s1", ms(0), channel="voice", service="booking", queue="booking",
            user="+441234500001")  # fmt: skip
    offer(f, "o1", "c1", "s1", "alice", ms(0, 1), "voice")
    accept(f, "o1", "c1", "s1", "alice", ms(0, 10), "voice", 10_000)
    ended(f, "c1", "s1", "alice", ms(3, 10), "voice", 180_000, 30_000)
    # C2: bob does not answer; alice answers after 30 s (outside booking's 20 s).
    contact(f, "c2", "s2", ms(5), channel="voice", service="booking", queue="booking",
            user="+441234500002")  # fmt: skip
    offer(f, "o2", "c2", "s2", "bob", ms(5, 1), "voice")
    f.add(ms(5, 21), "offer.timeout", offer="o2", request="c2", session="s2", agent="bob",
          channel="voice", reason="no answer in time")  # fmt: skip
    offer(f, "o3", "c2", "s2", "alice", ms(5, 22), "voice")
    accept(f, "o3", "c2", "s2", "alice", ms(5, 30), "voice", 30_000)
    ended(f, "c2", "s2", "alice", ms(10, 30), "voice", 300_000, 30_000)
    # C3: a chat to billing abandoned after 45 s.
    contact(f, "c3", "s3", ms(20), channel="chat", service="billing", queue="billing",
            user="web-42")  # fmt: skip
    f.add(ms(20, 45), "request.cancelled", request="c3", session="s3", channel="chat",
          reason="customer left", previous="queued", waited_ms=45_000)  # fmt: skip
    # C4: bob rejects, alice answers after 12 s and transfers it on after 5 min (C5).
    contact(f, "c4", "s4", ms(50), channel="chat", service="billing", queue="billing",
            user="web-43")  # fmt: skip
    offer(f, "o4", "c4", "s4", "bob", ms(50, 2), "chat")
    f.add(ms(50, 5), "offer.rejected", offer="o4", request="c4", session="s4", agent="bob",
          channel="chat", reason="rejected")  # fmt: skip
    offer(f, "o5", "c4", "s4", "alice", ms(50, 6), "chat")
    accept(f, "o5", "c4", "s4", "alice", ms(50, 12), "chat", 12_000)
    ended(f, "c4", "s4", "alice", ms(55, 12), "chat", 300_000, 0, reason="transferred")
    f.add(ms(55, 12), "request.transferred", request="c4", to_request="c5", session="s4",
          channel="chat", queue="billing", agent="", by="alice")  # fmt: skip
    f.add(ms(55, 12), "request.queued", request="c5", session="s4", channel="chat",
          queues='["billing"]', rule="r", step="0", pinned="")  # fmt: skip
    offer(f, "o6", "c5", "s4", "bob", ms(55, 13), "chat")
    accept(f, "o6", "c5", "s4", "bob", ms(55, 20), "chat", 8_000)
    ended(f, "c5", "s4", "bob", ms(5, 20, hour=9), "chat", 600_000, 0)
    # C6: a call abandoned after 5 s; C7: a call overflowed after a minute.
    contact(f, "c6", "s5", ms(10, hour=9), channel="voice", service="booking", queue="booking",
            user="+441234500006")  # fmt: skip
    f.add(ms(10, 5, hour=9), "request.cancelled", request="c6", session="s5", channel="voice",
          reason="caller hung up", previous="queued", waited_ms=5_000)  # fmt: skip
    contact(f, "c7", "s6", ms(20, hour=9), channel="voice", service="booking", queue="booking",
            user="+441234500007")  # fmt: skip
    f.add(ms(21, hour=9), "request.overflowed", request="c7", session="s6", channel="voice",
          destination="voicemail", pbx="pbx1", call_id="c7-leg")  # fmt: skip
    f.add(ms(30, hour=9), "agent.status", agent="bob", status="away", reason="lunch",
          previous="available")  # fmt: skip
    f.add(ms(0, hour=10), "agent.status", agent="alice", status="offline", reason="",
          previous="available")  # fmt: skip
    f.add(ms(0, hour=10), "session.closed", session="s1", user="+441234500001",
          service="booking", disposition="done", by="alice")  # fmt: skip
    return f
