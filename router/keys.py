"""Every Redis key implus uses, in one place: :data:`TEMPLATES`.

All keys of one routing domain start with the prefix ``implus:{domain}:``; the hash tag
``{domain}`` puts them in one slot, so the atomic Lua scripts, which touch agents, requests,
queues and sessions together, run on one shard of a Redis Cluster.

The table is the single source of the names. :class:`Keys` builds them in Python; the Lua
scripts get the keys they can name before they run as ``KEYS`` (each script's header says
which, ``router/scripts.py`` builds them with :meth:`Keys.build`), and name the keys that
depend on data they read (a request's queues, an offer's agent, the PBX of a call) as
``K.<name>(...)``, which ``router/scripts.py`` expands from the same table.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from typing import NamedTuple

WORK_GROUP = "routers"
"""Consumer group of the allocation workers on the ``work`` stream."""

BRIDGE_GROUP = "bridge"
"""Consumer group of a PBX bridge on its ``pbx:<id>:commands`` stream."""


class KeyTemplate(NamedTuple):
    """One key name after the domain prefix; ``{part}`` fields are filled in order."""

    pattern: str
    type: str
    """The Redis type stored there."""
    meaning: str
    """What it holds and how long it lives."""


TEMPLATES: dict[str, KeyTemplate] = {
    "agents": KeyTemplate("agents", "set", "ids of configured agents; until removed"),
    "agent": KeyTemplate("agent:{agent}", "hash", "profile + live state; until removed"),
    "agent_offers": KeyTemplate("agent:{agent}:offers", "set", "offer ids pending for the agent"),
    "agent_contacts": KeyTemplate(
        "agent:{agent}:contacts", "set", "request ids the agent is handling"
    ),
    "leases": KeyTemplate(
        "leases:{source}", "zset", "agent id by lease expiry (ms) of a presence source; reaper"
    ),
    "request": KeyTemplate(
        "request:{request}", "hash", "a routing request; expires `history_ttl` after it ends"
    ),
    "offer": KeyTemplate(
        "offer:{offer}", "hash", "one offer of a request to an agent; same expiry"
    ),
    "queue": KeyTemplate(
        "queue:{queue}:{channel}", "zset", "waiting request ids of a channel by (priority, age)"
    ),
    "queues": KeyTemplate("queues", "set", "names of queues that ever held requests"),
    "pinned": KeyTemplate("pinned:{agent}", "zset", "requests waiting for their known agent"),
    "session": KeyTemplate("session:{session}", "hash", "one session (user, service); history"),
    "session_requests": KeyTemplate(
        "session:{session}:requests", "set", "open request ids of the session"
    ),
    "transcript": KeyTemplate(
        "session:{session}:transcript", "stream", "the session timeline (messages, calls, notes)"
    ),
    "session_cmids": KeyTemplate(
        "session:{session}:cmids", "hash", "client message id -> transcript entry id"
    ),
    "session_open": KeyTemplate(
        "session-open:{user}:{service}", "string", "id of the user's open session for a service"
    ),
    "user_sessions": KeyTemplate(
        "user:{user}:sessions", "zset", "the user's session ids by creation time"
    ),
    "sessions_activity": KeyTemplate(
        "sessions:activity", "zset", "open session ids by last activity (idle close)"
    ),
    "timers": KeyTemplate(
        "timers", "zset", '"offer:<id>" / "goal:<id>" / "wrapup:<id>" by due time (ms)'
    ),
    "work": KeyTemplate("work", "stream", "work items for the allocation workers (`routers`)"),
    "events": KeyTemplate("events", "stream", "domain events for chat, bridges, audits"),
    "agent_feed": KeyTemplate(
        "agent-feed", "stream", "agents' live state and profiles for the workers' views"
    ),
    "pbx_commands": KeyTemplate(
        "pbx:{pbx}:commands", "stream", "commands for one PBX bridge (group `bridge`)"
    ),
    "pbx_calls": KeyTemplate(
        "pbx:{pbx}:calls", "hash", "call id -> the bridge's record of a live call (resume)"
    ),
    "pbx_bridge": KeyTemplate(
        "pbx:{pbx}:bridge", "hash", "the bridge's status (pid, connected...); expires"
    ),
    "trace": KeyTemplate(
        "trace:{request}", "list", "JSON decision traces; expires with the request"
    ),
    "stats": KeyTemplate(
        "stats:{queue}:{channel}", "zset", '"<request>:<wait ms>" by answer time (EWT window)'
    ),
    "strategy": KeyTemplate("strategy", "hash", "current strategy: version, yaml, loaded_at"),
    "strategy_versions": KeyTemplate(
        "strategy:versions", "hash", "version -> yaml of every strategy ever loaded"
    ),
    "acks": KeyTemplate(
        "acks", "channel", "published to (empty) right before WAIT (router.durable)"
    ),
}


def parts_of(pattern: str) -> tuple[str, ...]:
    """The ``{part}`` names of a template pattern, in order."""
    return tuple(name for _lit, name, _spec, _conv in string.Formatter().parse(pattern) if name)


def _positional(pattern: str) -> str:
    """``agent:{agent}:offers`` -> ``agent:{0}:offers`` (str.format with positional parts)."""
    return pattern.format(**{p: "{" + str(i) + "}" for i, p in enumerate(parts_of(pattern))})


_FORMATS = {name: _positional(t.pattern) for name, t in TEMPLATES.items()}


@dataclass(frozen=True)
class Keys:
    """Key names for one routing domain (default ``default``)."""

    domain: str = "default"
    namespace: str = "implus"
    prefix: str = field(init=False, repr=False, compare=False)
    """``implus:{domain}:``, in front of every key."""

    def __post_init__(self) -> None:
        for part in (self.domain, self.namespace):
            if not part or any(c in part for c in "{}: \t\n"):
                raise ValueError(f"bad key part {part!r}: use letters, digits, '-' or '_'")
        object.__setattr__(self, "prefix", f"{self.namespace}:{{{self.domain}}}:")

    def build(self, name: str, *parts: str) -> str:
        """The key of template ``name`` filled with ``parts`` (in the pattern's order)."""
        return self.prefix + _FORMATS[name].format(*parts)

    def agents(self) -> str:
        return self.build("agents")

    def agent(self, agent_id: str) -> str:
        return self.build("agent", agent_id)

    def agent_offers(self, agent_id: str) -> str:
        return self.build("agent_offers", agent_id)

    def agent_contacts(self, agent_id: str) -> str:
        return self.build("agent_contacts", agent_id)

    def leases(self, source: str) -> str:
        return self.build("leases", source)

    def request(self, request_id: str) -> str:
        return self.build("request", request_id)

    def offer(self, offer_id: str) -> str:
        return self.build("offer", offer_id)

    def queue(self, name: str, channel: str) -> str:
        """The waiting line of queue ``name`` for one channel (voice, chat, voip)."""
        return self.build("queue", name, channel)

    def queues(self) -> str:
        return self.build("queues")

    def pinned(self, agent_id: str) -> str:
        return self.build("pinned", agent_id)

    def session(self, session_id: str) -> str:
        return self.build("session", session_id)

    def session_requests(self, session_id: str) -> str:
        return self.build("session_requests", session_id)

    def transcript(self, session_id: str) -> str:
        return self.build("transcript", session_id)

    def session_cmids(self, session_id: str) -> str:
        return self.build("session_cmids", session_id)

    def session_open(self, user_id: str, service: str) -> str:
        return self.build("session_open", user_id, service)

    def user_sessions(self, user_id: str) -> str:
        return self.build("user_sessions", user_id)

    def sessions_activity(self) -> str:
        return self.build("sessions_activity")

    def timers(self) -> str:
        return self.build("timers")

    def work(self) -> str:
        return self.build("work")

    def events(self) -> str:
        return self.build("events")

    def agent_feed(self) -> str:
        return self.build("agent_feed")

    def pbx_commands(self, pbx_id: str) -> str:
        return self.build("pbx_commands", pbx_id)

    def pbx_calls(self, pbx_id: str) -> str:
        """A PBX bridge's records of the calls it is handling, so a restarted bridge resumes."""
        return self.build("pbx_calls", pbx_id)

    def pbx_bridge(self, pbx_id: str) -> str:
        """A PBX bridge's status, refreshed while it runs (expires when it stops)."""
        return self.build("pbx_bridge", pbx_id)

    def trace(self, request_id: str) -> str:
        return self.build("trace", request_id)

    def stats(self, queue: str, channel: str) -> str:
        return self.build("stats", queue, channel)

    def strategy(self) -> str:
        return self.build("strategy")

    def strategy_versions(self) -> str:
        return self.build("strategy_versions")

    def acks(self) -> str:
        """A pub/sub channel nobody needs to listen to: publishing to it before ``WAIT``
        moves the connection's replication offset to "now", so the WAIT covers every write
        made before the acknowledgement, even when the acknowledged script wrote nothing
        itself (a duplicate message, an accept retried)."""
        return self.build("acks")
