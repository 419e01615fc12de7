"""The admin YAML's agents as router profiles, and the phones of the agents homed on a PBX."""

from __future__ import annotations

import logging
from typing import Any

from admin_config.agents import agent_profile
from admin_config.model import AdminConfig

log = logging.getLogger(__name__)


def push_agents(router: Any, config: AdminConfig) -> int:
    """Create or update every agent of the admin config in the router (live state is kept).
    Returns how many were new."""
    created = 0
    for agent in config.agents:
        if router.upsert_agent(agent_profile(agent)):
            created += 1
    log.info("agents from the admin config: %d pushed, %d new", len(config.agents), created)
    return created


def phones_on(config: AdminConfig, pbx_id: str, router_agents: list[Any]) -> dict[str, str]:
    """SIP user (endpoint) -> agent id for every agent whose phone is on `pbx_id`: those of the
    admin config, and those the router knows (agents managed through the admin API)."""
    phones = {a.endpoint: a.id for a in config.agents_on(pbx_id) if a.endpoint}
    for state in router_agents:
        profile = state.profile
        if profile.pbx == pbx_id and profile.endpoint:
            phones.setdefault(profile.endpoint, profile.id)
    return phones
