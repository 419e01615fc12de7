"""Admin and supervisor actions on the router: agents, the routing strategy, statistics.

Agent profiles and the strategy live in the router; the chat side only adds the desktop
login of each agent (:mod:`chat.accounts`).
"""

from __future__ import annotations

import time
from typing import Any

from chat import api_models as m
from chat.accounts import AccountStore, Role
from chat.errors import BadInput, NotFoundError
from chat.service import converted, refused_unless
from router.client import QueueStats, RouterClient
from router.model import AgentProfile, AgentState

PHONE_CHECK_S = 30.0


class AdminService:
    def __init__(self, client: RouterClient, accounts: AccountStore) -> None:
        self.client = client
        self.accounts = accounts
        self._phone: tuple[float, bool] = (0.0, False)

    def phone_channel(self) -> bool:
        """Whether customers can be called back: some agent has a phone on a PBX and takes
        voice contacts (callbacks are placed through the agent's PBX). Cached 30 s; an
        agent changed through this instance's API takes effect at once."""
        until, known = self._phone
        if until > time.monotonic():
            return known
        with converted():
            agents = self.client.agents()
        known = any(a.profile.pbx and a.profile.capacity.get("voice", 0) > 0 for a in agents)
        self._phone = (time.monotonic() + PHONE_CHECK_S, known)
        return known

    def transfer_targets(self, agent_id: str) -> m.TransferTargetsOut:
        """Queues of the live strategy and the agents available for a chat right now."""
        with converted():
            queues = list(self.client.strategy().queue_names)
        agents = []
        for a in self.agent_summaries():
            free = int(a["capacity"].get("chat", 0)) - int(a["load"].get("chat", 0))
            if a["id"] != agent_id and a["status"] == "available" and a["desktop"] and free > 0:
                agents.append(
                    m.TransferAgentOut(
                        id=a["id"], name=a["name"], status=a["status"], free_chats=free
                    )
                )
        return m.TransferTargetsOut(queues=queues, agents=agents)

    def list_agents(self) -> list[m.AgentOut]:
        with converted():
            states = self.client.agents()
        logins = set(self.accounts.ids(Role.AGENT))
        return [agent_out(s, s.id in logins) for s in states]

    def get_agent(self, agent_id: str) -> m.AgentOut | None:
        with converted():
            state = self.client.agent(agent_id)
        if state is None:
            return None
        return agent_out(state, self.accounts.get(Role.AGENT, agent_id) is not None)

    def upsert_agent(self, agent_id: str, body: m.AgentBody) -> tuple[m.AgentOut, bool]:
        """Create or update the agent's router profile (live state is kept) and, when a
        password is given, its desktop login. Returns the agent and whether it is new."""
        profile = AgentProfile(
            id=agent_id,
            name=body.name,
            skills=dict(body.skills),
            capacity={str(ch): n for ch, n in body.capacity.items()},
            pbx=body.pbx,
            endpoint=body.endpoint,
        )
        with converted():
            created = self.client.upsert_agent(profile)
        self._phone = (0.0, False)  # a phone may have come or gone: ask again
        if body.password is not None:
            self.accounts.set_password(Role.AGENT, agent_id, body.password, body.name)
        out = self.get_agent(agent_id)
        assert out is not None
        return out, created

    def remove_agent(self, agent_id: str) -> None:
        """Remove the agent from the router (refused while it has offers or contacts in
        progress) and its desktop login."""
        with converted():
            refused_unless(self.client.remove_agent(agent_id), f"agent {agent_id} not removed")
        if self.accounts.get(Role.AGENT, agent_id) is not None:
            self.accounts.remove(Role.AGENT, agent_id)

    def load_strategy(self, text: str) -> int:
        """Validate and install a strategy; a bad one raises BadInput listing each problem."""
        try:
            with converted():
                return self.client.load_strategy(text)
        except RecursionError:  # the YAML parser recurses once per nesting level
            raise BadInput(
                "the strategy is nested too deeply: write it as plain nested mappings",
                code="invalid_strategy",
            ) from None

    def queue_stats(self) -> list[m.QueueStatsOut]:
        with converted():
            stats = self.client.queue_stats()
        return [queue_stats_out(q) for q in stats]

    def agent_summary(self, agent_id: str) -> dict[str, Any]:
        with converted():
            state = self.client.agent(agent_id)
        if state is None:
            raise NotFoundError(
                f"agent {agent_id!r} has a login but no router profile: "
                "an admin must create it (PUT /api/agents/{id})"
            )
        return agent_summary(state, int(time.time() * 1000))

    def agent_summaries(self) -> list[dict[str, Any]]:
        with converted():
            states = self.client.agents()
        now = int(time.time() * 1000)
        return [agent_summary(s, now) for s in states]


def agent_summary(state: AgentState, now_ms: int) -> dict[str, Any]:
    """An agent as the desktop and the supervisor page show it."""
    return {
        "id": state.id,
        "name": state.profile.name,
        "status": state.effective_status(now_ms),
        "reason": state.reason,
        "load": dict(state.load),
        "capacity": dict(state.profile.capacity),
        "desktop": state.leases.get("desktop", 0) > now_ms,
        "phone": state.devices.get("sip", "") if state.leases.get("sip", 0) > now_ms else "",
    }


def queue_stats_out(q: QueueStats) -> m.QueueStatsOut:
    return m.QueueStatsOut(
        queue=q.queue,
        channel=q.channel,
        waiting=q.waiting,
        longest_wait_s=round(q.longest_wait_s, 1),
        estimated_wait_s=None if q.estimated_wait_s is None else round(q.estimated_wait_s, 1),
        service_level=q.service_level,
        answered=q.answered,
        free_agents=q.free_agents,
    )


def agent_out(state: AgentState, has_login: bool) -> m.AgentOut:
    p = state.profile
    return m.AgentOut(
        id=p.id,
        name=p.name,
        skills=dict(p.skills),
        capacity=dict(p.capacity),
        pbx=p.pbx,
        endpoint=p.endpoint,
        status=state.effective_status(int(time.time() * 1000)),
        reason=state.reason,
        load=dict(state.load),
        has_login=has_login,
    )
