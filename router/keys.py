"""Every Redis key implus uses, in one place.

All keys of one routing domain share the hash tag ``{domain}`` so that the atomic Lua
scripts, which touch agents, requests, queues and sessions together, stay on one shard of
a Redis Cluster. The Lua scripts build the same names from :attr:`Keys.prefix`; the table
below is the contract between this module and ``router/lua/prelude.lua``.

=============================  ===========  ==============================================
key (after the prefix)         type         lifetime / meaning
=============================  ===========  ==============================================
agents                         set          ids of configured agents; until removed
agent:<id>                     hash         profile + live state; until removed
agent:<id>:offers              set          offer ids pending for the agent
agent:<id>:contacts            set          request ids the agent is handling
leases:<source>                zset         agent id by lease expiry (ms); reaper input
request:<id>                   hash         a routing request; expires `history_ttl` after close
offer:<id>                     hash         one offer of a request to an agent; same expiry
queue:<name>                   zset         waiting request ids by (priority, age) score
queues                         set          names of queues that ever held requests
pinned:<agent>                 zset         requests waiting for their known agent
session:<id>                   hash         one session (user, service); kept as history
session:<id>:requests          set          open request ids of the session
session:<id>:transcript        stream       the session timeline (messages, calls, notes)
session:<id>:cmids             hash         client message id -> transcript entry id
session-open:<user>:<service>  string       id of the user's open session for a service
user:<id>:sessions             zset         the user's session ids by creation time
sessions:activity              zset         open session ids by last activity (idle close)
timers                         zset         "offer:<id>" / "goal:<id>" / "wrapup:<id>" by due ms
work                           stream       work items for allocation workers (group `routers`)
events                         stream       domain events for chat, bridges, audits
agent-feed                     stream       agent live state/profiles for workers' views
pbx:<id>:commands              stream       commands for one PBX bridge (group `bridge`)
pbx:<id>:calls                 hash         call id -> the bridge's JSON record of a live call
pbx:<id>:bridge                hash         the bridge's status (pid, connected...); expires
trace:<request>                list         JSON decision traces; expires with the request
stats:<queue>:<channel>        zset         "<request>:<wait ms>" by answer time (EWT window)
strategy                       hash         current strategy: version, yaml, loaded_at
strategy:versions              hash         version -> yaml of every strategy ever loaded
acks                           channel      published to (empty) right before WAIT (router.durable)
=============================  ===========  ==============================================
"""

from __future__ import annotations

from dataclasses import dataclass

WORK_GROUP = "routers"
"""Consumer group of the allocation workers on the ``work`` stream."""

BRIDGE_GROUP = "bridge"
"""Consumer group of a PBX bridge on its ``pbx:<id>:commands`` stream."""


@dataclass(frozen=True)
class Keys:
    """Key names for one routing domain (default ``default``)."""

    domain: str = "default"
    namespace: str = "implus"

    def __post_init__(self) -> None:
        for part in (self.domain, self.namespace):
            if not part or any(c in part for c in "{}: \t\n"):
                raise ValueError(f"bad key part {part!r}: use letters, digits, '-' or '_'")

    @property
    def prefix(self) -> str:
        return f"{self.namespace}:{{{self.domain}}}:"

    def agents(self) -> str:
        return self.prefix + "agents"

    def agent(self, agent_id: str) -> str:
        return f"{self.prefix}agent:{agent_id}"

    def agent_offers(self, agent_id: str) -> str:
        return f"{self.prefix}agent:{agent_id}:offers"

    def agent_contacts(self, agent_id: str) -> str:
        return f"{self.prefix}agent:{agent_id}:contacts"

    def leases(self, source: str) -> str:
        return f"{self.prefix}leases:{source}"

    def request(self, request_id: str) -> str:
        return f"{self.prefix}request:{request_id}"

    def offer(self, offer_id: str) -> str:
        return f"{self.prefix}offer:{offer_id}"

    def queue(self, name: str) -> str:
        return f"{self.prefix}queue:{name}"

    def queues(self) -> str:
        return self.prefix + "queues"

    def pinned(self, agent_id: str) -> str:
        return f"{self.prefix}pinned:{agent_id}"

    def session(self, session_id: str) -> str:
        return f"{self.prefix}session:{session_id}"

    def session_requests(self, session_id: str) -> str:
        return f"{self.prefix}session:{session_id}:requests"

    def transcript(self, session_id: str) -> str:
        return f"{self.prefix}session:{session_id}:transcript"

    def session_open(self, user_id: str, service: str) -> str:
        return f"{self.prefix}session-open:{user_id}:{service}"

    def user_sessions(self, user_id: str) -> str:
        return f"{self.prefix}user:{user_id}:sessions"

    def sessions_activity(self) -> str:
        return self.prefix + "sessions:activity"

    def timers(self) -> str:
        return self.prefix + "timers"

    def work(self) -> str:
        return self.prefix + "work"

    def events(self) -> str:
        return self.prefix + "events"

    def agent_feed(self) -> str:
        return self.prefix + "agent-feed"

    def pbx_commands(self, pbx_id: str) -> str:
        return f"{self.prefix}pbx:{pbx_id}:commands"

    def pbx_calls(self, pbx_id: str) -> str:
        """A PBX bridge's records of the calls it is handling, so a restarted bridge resumes."""
        return f"{self.prefix}pbx:{pbx_id}:calls"

    def pbx_bridge(self, pbx_id: str) -> str:
        """A PBX bridge's status, refreshed while it runs (expires when it stops)."""
        return f"{self.prefix}pbx:{pbx_id}:bridge"

    def trace(self, request_id: str) -> str:
        return f"{self.prefix}trace:{request_id}"

    def stats(self, queue: str, channel: str) -> str:
        return f"{self.prefix}stats:{queue}:{channel}"

    def strategy(self) -> str:
        return self.prefix + "strategy"

    def strategy_versions(self) -> str:
        return self.prefix + "strategy:versions"

    def acks(self) -> str:
        """A pub/sub channel nobody needs to listen to: publishing to it before ``WAIT``
        moves the connection's replication offset to "now", so the WAIT covers every write
        made before the acknowledgement, even when the acknowledged script wrote nothing
        itself (a duplicate message, an accept retried)."""
        return self.prefix + "acks"
