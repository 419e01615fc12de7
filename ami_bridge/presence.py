"""Agents' phones -> the router's `sip` presence lease.

Each agent homed on this PBX has a phone (a PJSIP endpoint). Its device state becomes the
agent's `sip` presence, as both PBX bridges report it: `available` (registered /
reachable, idle), `busy` (ringing or on any call: no second call is offered), `offline`
(unregistered, unreachable: the router offers it no call). Phones that are up renew a
lease of `ttl` seconds every third of it, only while the AMI link is up, so a dead bridge
or PBX never leaves an agent offerable.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import redis.exceptions

from callflow import facts as f
from router.client import AsyncRouterClient
from router.errors import NotFound, RouterError

from .translate import device_presence

if TYPE_CHECKING:
    from .pbx import Asterisk

log = logging.getLogger("implus.ami_bridge")


class Presence:
    def __init__(
        self,
        router: AsyncRouterClient,
        pbx: Asterisk,
        ttl_s: float = 90.0,
        engaged: Callable[[str], bool] = lambda agent: False,
    ) -> None:
        self.router = router
        self.pbx = pbx
        self.engaged = engaged
        """Is the agent being rung for / on a call this bridge handles? Then the router
        holds the agent's voice slot already: the phone turning busy and free again is
        not news to it (two heartbeats per call saved)."""
        self.ttl_s = ttl_s
        self.agent_of: dict[str, str] = {}
        """endpoint -> agent id, for agents whose phone is on this PBX."""
        self.state: dict[str, f.Presence] = {}
        self._unknown_warned: set[str] = set()

    def learn_agents(self, agents: dict[str, str]) -> None:
        """Set which endpoint belongs to which agent (admin config, router profiles)."""
        self.agent_of = dict(agents)

    def is_news(self, fact: f.DeviceChanged) -> bool:
        """Would the router learn something from this change? Not if the phone is no
        agent's, keeps its last reported state, or turns busy on a call of ours."""
        agent = self.agent_of.get(fact.endpoint)
        if agent is None or self.state.get(agent) == fact.presence:
            return False
        # one of our calls: the router knows (its state stays as last told)
        return not (fact.presence == "busy" and self.engaged(agent))

    async def device_changed(self, fact: f.DeviceChanged) -> None:
        if not self.is_news(fact):
            return
        agent = self.agent_of[fact.endpoint]
        self.state[agent] = fact.presence
        await self._report(agent, fact.presence)

    async def rebuild(self) -> None:
        """Ask Asterisk for every agent phone's state now and report each one."""
        pbx = self.pbx
        recorded = await pbx.device_states()
        for endpoint, agent in sorted(self.agent_of.items()):
            state = recorded.get(endpoint)
            if state is None:  # never changed since Asterisk started: compute it
                state = await pbx.device_state(endpoint)
            self.state[agent] = device_presence(state)
        await self.refresh(include_offline=True)

    async def refresh(self, include_offline: bool = False) -> None:
        """Renew the leases of phones that are up (and report offline ones if asked)."""
        jobs = [
            self._report(agent, presence)
            for agent, presence in sorted(self.state.items())
            if include_offline or presence != "offline"
        ]
        for start in range(0, len(jobs), 50):
            await asyncio.gather(*jobs[start : start + 50])

    async def _report(self, agent: str, presence: f.Presence) -> None:
        try:
            router = self.router
            await router.run_batched(
                router.ops.heartbeat(agent, source="sip", ttl=self.ttl_s, device=presence)
            )
        except NotFound:
            if agent not in self._unknown_warned:
                self._unknown_warned.add(agent)
                log.warning(
                    "agent %s has a phone on this PBX but no router profile: push profiles "
                    "(drop --no-push-agents) or create it through the admin API",
                    agent,
                )
        except (RouterError, redis.exceptions.RedisError) as e:  # the next refresh retries
            log.error("sip presence of %s not reported: %s", agent, e)
