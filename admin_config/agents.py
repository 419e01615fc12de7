"""The admin YAML's agents as the router's agent profiles: one mapping for every bridge."""

from __future__ import annotations

from admin_config.model import Agent
from router.model import AgentProfile


def agent_profile(agent: Agent) -> AgentProfile:
    """The router profile of an admin-config agent. VoIP calls use the voice slot (the router
    has no separate VoIP capacity)."""
    return AgentProfile(
        id=agent.id,
        name=agent.display_name,
        skills=dict(agent.skills),
        capacity={"voice": agent.capacity.voice, "chat": agent.capacity.chat},
        pbx=agent.pbx or "",
        endpoint=agent.endpoint or "",
    )
