"""Client operations on agents: profiles, presence leases, status, their offers and contacts."""

from __future__ import annotations

from router.client.base import OpsBase
from router.client.values import Result, check_id, profile_fields, result_of
from router.errors import InvalidInput, NotFound
from router.model import (
    PRESENCE_SOURCES,
    AgentProfile,
    AgentState,
    AgentStatus,
    Offer,
    RoutingRequest,
)
from router.ops import Batch, Op, Script, cmd, pairs


class AgentOps(OpsBase):
    def upsert_agent(self, profile: AgentProfile) -> Op[bool]:
        """Create or update an agent's profile (live state is kept). True if created."""
        check_id("agent id", profile.id)
        for ch, n in profile.capacity.items():
            if ch not in ("voice", "chat") or not isinstance(n, int) or n < 0:
                raise InvalidInput(
                    f"capacity.{ch}: channels are voice and chat (voip uses voice), counts >= 0"
                )
        for skill, level in profile.skills.items():
            if not isinstance(level, int) or level < 0:
                raise InvalidInput(f"skills.{skill}: level must be an integer >= 0")
        reply = yield Script("upsert_agent", (profile.id, *profile_fields(profile)))
        return bool(int(reply[1]))

    def remove_agent(self, agent_id: str) -> Op[Result]:
        """Remove an agent with no offer or contact in progress (refused otherwise)."""
        return result_of((yield Script("remove_agent", (check_id("agent id", agent_id),))))

    def agent(self, agent_id: str) -> Op[AgentState | None]:
        h = pairs((yield cmd("HGETALL", self.keys.agent(check_id("agent id", agent_id)))))
        return AgentState.from_hash(h) if h else None

    def agents(self) -> Op[list[AgentState]]:
        return (yield from self._agents())

    def heartbeat(
        self, agent_id: str, source: str = "desktop", ttl: float = 30.0, device: str = ""
    ) -> Op[bool]:
        """Renew a presence lease for ``ttl`` seconds. ``device`` (available / busy /
        offline) is the phone's state for the ``sip`` source. True if something changed."""
        if source not in PRESENCE_SOURCES:
            raise InvalidInput(f"source must be one of {', '.join(PRESENCE_SOURCES)}")
        if source == "sip" and device not in ("available", "busy", "offline"):
            raise InvalidInput("a sip heartbeat needs device=available|busy|offline")
        if not 0 < ttl <= 3600:
            raise InvalidInput("ttl must be in (0, 3600] seconds")
        reply = yield Script(
            "heartbeat",
            (
                check_id("agent id", agent_id),
                source,
                int(ttl * 1000),
                device if source != "desktop" else "",
            ),
        )
        if int(reply[0]) != 1:
            raise NotFound(f"agent {agent_id!r} is not configured")
        return bool(int(reply[1]))

    def set_status(self, agent_id: str, status: str, reason: str = "") -> Op[Result]:
        """The agent chooses available / away (with a reason) / offline."""
        try:
            st = AgentStatus(status)
        except ValueError:
            raise InvalidInput(
                f"status must be available, away or offline, got {status!r}"
            ) from None
        return result_of(
            (yield Script("set_status", (check_id("agent id", agent_id), st.value, reason[:200])))
        )

    def agent_offers(self, agent_id: str) -> Op[list[Offer]]:
        ids = sorted((yield cmd("SMEMBERS", self.keys.agent_offers(agent_id))))
        if not ids:
            return []
        replies = yield Batch(tuple(cmd("HGETALL", self.keys.offer(o)) for o in ids))
        return [Offer.from_hash(pairs(r)) for r in replies if r]

    def agent_contacts(self, agent_id: str) -> Op[list[RoutingRequest]]:
        ids = sorted((yield cmd("SMEMBERS", self.keys.agent_contacts(agent_id))))
        return (yield from self._requests(ids))
