"""Agents' phones on this FreeSWITCH -> the router's `sip` presence leases.

A phone is `offline` until it registers (sofia::register), `available` while registered and
on no call, `busy` while any channel of it is up (a call implus routed, or one the agent
placed or took directly), and `offline` again when it unregisters or its registration
expires. Every change is sent at once (`heartbeat(agent, source="sip", device=...)`); the
leases of registered phones are renewed every `refresh` seconds, so when this bridge stops
they run out and the router stops offering calls to phones nobody watches.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from typing import Any

from esl_bridge.events import ChannelEvent
from router.errors import NotFound, RouterError

log = logging.getLogger(__name__)

CHANNEL_USER = re.compile(r"^sofia/[^/]+/(?:sips?:)?([^@/]+)@")
"""The SIP user in a sofia channel name (`sofia/internal/1001@10.0.0.5:5060`)."""


def channel_user(channel_name: str | None) -> str | None:
    match = CHANNEL_USER.match(channel_name or "")
    return match.group(1) if match else None


_RAW_CREATE = b'"Event-Name":"CHANNEL_CREATE"'
_RAW_PLACED = re.compile(rb'"variable_implus_agent":"[^"]')
_RAW_CHANNEL_NAME = re.compile(rb'"Channel-Name":"([^"\\]*)"')
"""In FreeSWITCH's JSON every quote inside a value is escaped, so `"Name":"` only
appears where a header starts; a value with an escape does not match (it is decoded)."""


class Presence:
    """Registration and call state of the phones of this PBX's agents."""

    def __init__(
        self,
        router: Any,
        agents: Callable[[], dict[str, str]],
        ttl: float,
    ) -> None:
        """`agents()` maps the SIP user (endpoint) of each agent homed here to the agent id."""
        self.router = router
        self.agents = agents
        self.ttl = ttl
        self.registered: set[str] = set()
        self.channels: dict[str, str] = {}
        """Channel uuid -> endpoint, for every live channel of an agent's phone."""
        self.sent: dict[str, str] = {}
        """Endpoint -> the device state last sent."""

    def device(self, endpoint: str) -> str:
        if endpoint not in self.registered:
            return "offline"
        if endpoint in self.channels.values():
            return "busy"
        return "available"

    # -- what FreeSWITCH tells us ------------------------------------------------------

    def registration(self, endpoint: str | None, registered: bool) -> None:
        if not endpoint:
            return
        if registered:
            self.registered.add(endpoint)
        else:
            self.registered.discard(endpoint)
        self.publish(endpoint)

    def channel_up(self, uuid: str, channel_name: str | None, endpoint: str | None = None) -> None:
        """A channel exists; if it is an agent's phone, the phone is busy."""
        endpoint = endpoint or channel_user(channel_name)
        if not endpoint or endpoint not in self.agents() or uuid in self.channels:
            return
        self.channels[uuid] = endpoint
        self.publish(endpoint)

    def work_for(self, event: ChannelEvent, *, pending: bool) -> Callable[[], None] | None:
        """What a channel event asks of presence (run it in the phones' queue), or None when
        it cannot change anything (`pending`: phone work is queued or running):
        - a leg the bridge placed (`implus_agent`) rings an agent the router has reserved
          already: its phone turning busy and free again is not news (two heartbeats saved);
        - a channel of no agent's phone (a caller's) is none of presence's business;
        - the end of a channel presence does not hold, with no phone work pending, either."""
        uid = event.unique_id
        if event.name == "CHANNEL_CREATE":
            if event.variable("implus_agent"):
                return None
            if channel_user(event.channel_name) not in self.agents():
                return None
            name = event.channel_name
            return lambda: self.channel_up(uid, name)
        if event.name == "CHANNEL_HANGUP" and (pending or uid in self.channels):
            return lambda: self.channel_down(uid)
        return None

    def ignores_raw(self, body: bytes) -> bool:
        """True for the JSON text of a CHANNEL_CREATE that `work_for` has nothing to do
        for (a leg the bridge placed, a channel of no agent's phone), told from its raw
        bytes: it need not be decoded at all (it tells the call flow nothing either -
        `translate.may_tell`). Two of a routed call's ~12 events."""
        if _RAW_CREATE not in body:
            return False
        if _RAW_PLACED.search(body):
            return True
        name = _RAW_CHANNEL_NAME.search(body)
        if name is None:
            return False
        return channel_user(name.group(1).decode("utf-8", "replace")) not in self.agents()

    def channel_down(self, uuid: str) -> None:
        endpoint = self.channels.pop(uuid, None)
        if endpoint:
            self.publish(endpoint)

    def rebuild(
        self, registered: Iterable[str], channels: Iterable[tuple[str, str | None]]
    ) -> None:
        """Start over from what FreeSWITCH lists (after a (re)connection), and send it all."""
        known = self.agents()
        self.registered = {user for user in registered if user in known}
        self.channels = {}
        for uuid, name in channels:
            endpoint = channel_user(name)
            if endpoint in known:
                self.channels[uuid] = endpoint
        self.refresh(force=True)

    # -- what the router is told -------------------------------------------------------

    def publish(self, endpoint: str, *, force: bool = False) -> None:
        """Tell the router the phone's state if it changed (or `force`)."""
        agent = self.agents().get(endpoint)
        if agent is None:
            return
        state = self.device(endpoint)
        if not force and self.sent.get(endpoint) == state:
            return
        try:
            self.router.heartbeat(agent, source="sip", ttl=self.ttl, device=state)
        except NotFound:
            log.warning("agent %s (phone %s) is not configured in the router", agent, endpoint)
            return
        except RouterError as e:
            log.error("cannot send the phone state of %s to the router: %s", agent, e)
            return
        if self.sent.get(endpoint) != state:
            log.info("phone %s of agent %s: %s", endpoint, agent, state)
        self.sent[endpoint] = state

    def refresh(self, *, force: bool = False) -> None:
        """Renew the leases of registered phones; tell the router once about the others."""
        for endpoint in self.agents():
            if endpoint in self.registered or force or endpoint not in self.sent:
                self.publish(endpoint, force=True)
