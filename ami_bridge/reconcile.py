"""After (re)connecting: make the book and the router agree with what Asterisk has NOW.

AMI never replays events missed while the link was down or the bridge was not running,
so memory cannot be trusted. On every LinkUp (and periodically, as a safety net) the
bridge reads Asterisk's live channels and repairs:

- calls in the book whose caller is gone -> the hang-up is handled as if seen (cancel or
  complete, transcript, dropped); a ringing agent leg that is gone -> `offer_failed`; a
  leg that was answered and bridged meanwhile -> `accept`;
- callers holding at an entry point that the book does not know (they arrived while the
  bridge was away) -> filed as if their `ImplusEntry` had just come; agent legs of ours
  nobody knows and that are not bridged -> hung up;
- (on LinkUp) contacts and offers the router holds for this PBX whose channel no longer
  exists -> completed / cancelled;
- (on LinkUp) every agent phone's presence, from DeviceStateList.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

from router.errors import RouterError
from router.model import Channel, OfferState, RequestState

from . import events as ev
from . import facts as f
from .actors import Job, Serial
from .callbook import Call, CallKind, CallState
from .inbound import InboundCalls
from .outbound import OutboundCalls
from .pbx import leg_id
from .presence import Presence

if TYPE_CHECKING:
    from .core import BridgeCore

log = logging.getLogger("implus.ami_bridge")

LEG_PREFIX = leg_id("")
GONE = "gone while the bridge was not listening"


@dataclass
class Repairs:
    """What one reconciliation changed (logged; tests read it)."""

    ended: list[str] = field(default_factory=list)
    answered: list[str] = field(default_factory=list)
    failed_legs: list[str] = field(default_factory=list)
    adopted: list[str] = field(default_factory=list)
    orphans_hung_up: list[str] = field(default_factory=list)
    router_fixed: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return any(vars(self).values())


class Reconciler:
    def __init__(
        self,
        core: BridgeCore,
        serial: Serial,
        inbound: InboundCalls,
        outbound: OutboundCalls,
        presence: Presence,
    ) -> None:
        self.core = core
        self.serial = serial
        self.inbound = inbound
        self.outbound = outbound
        self.presence = presence

    async def run(self, full: bool = True) -> Repairs:
        """One pass. `full` (after a LinkUp) also repairs the router side and presence."""
        repairs = Repairs()
        channels = await self.core.pbx.channels()
        jobs = [
            self.serial.submit(call.id, self._job(call.id, channels, repairs))
            for call in self.core.book.all()
        ]
        await asyncio.gather(*jobs, return_exceptions=True)
        await self._strangers(channels, repairs)
        if full:
            await self._router_side(channels, repairs)
            await self.presence.rebuild()
        if repairs:
            log.warning("reconciled with Asterisk: %s", repairs)
        return repairs

    def _job(self, call_id: str, channels: dict[str, ev.CoreShowChannel], repairs: Repairs) -> Job:
        async def job() -> None:
            call = self.core.book.get(call_id)
            if call is None:
                return  # ended while queued
            if call.kind is CallKind.INBOUND:
                await self._inbound(call, channels, repairs)
            else:
                await self._outbound(call, channels, repairs)

        return job

    async def _inbound(
        self, call: Call, channels: dict[str, ev.CoreShowChannel], repairs: Repairs
    ) -> None:
        caller = channels.get(call.id)
        if caller is None:
            repairs.ended.append(call.id)
            await self.inbound.gone(call, f.ChannelGone(call.id, call.channel, 0, GONE))
            return
        if call.state is CallState.RINGING:
            if caller.bridge_id:  # answered while nobody listened
                repairs.answered.append(call.id)
                await self.inbound.answered_meanwhile(call, caller.bridge_id)
            elif caller.application != "Dial":  # back on hold: the ringing ended unseen
                repairs.failed_legs.append(call.leg or call.offer)
                await self.inbound.ring_lost(call)
        elif call.state is CallState.WAITING:
            request = None
            if call.session:
                try:
                    request = await self.core.router.request(call.request)
                except RouterError as e:
                    log.error("reading request %s: %s", call.request, e)
                    return
            if request is None:
                repairs.adopted.append(call.id)
                await self.inbound.submit(call)

    async def _outbound(
        self, call: Call, channels: dict[str, ev.CoreShowChannel], repairs: Repairs
    ) -> None:
        leg = channels.get(call.id)
        if leg is None:
            repairs.ended.append(call.id)
            await self.outbound.gone(call, f.ChannelGone(call.id, call.channel, 0, GONE))
            return
        if call.state is CallState.RINGING and (leg.bridge_id or leg.application == "Dial"):
            repairs.answered.append(call.id)
            await self.outbound.agent_answered(call)
        if call.customer_leg and call.customer_leg not in channels and leg.bridge_id == "":
            await self.outbound.gone(call, f.ChannelGone(call.customer_leg, "", 0, GONE))

    async def _strangers(self, channels: dict[str, ev.CoreShowChannel], repairs: Repairs) -> None:
        """Live channels the book does not know."""
        book = self.core.book
        for uid, ch in channels.items():
            if book.find(uid) is not None:
                continue
            if uid.startswith(LEG_PREFIX):
                if not ch.bridge_id:  # ringing for an offer nobody tracks: a zombie
                    repairs.orphans_hung_up.append(uid)
                    await self.core.pbx.hangup(uid)
                continue
            if ch.application != "MusicOnHold":
                continue
            fact = await self._holding_caller(ch)
            if fact is not None:
                repairs.adopted.append(uid)
                await self.serial.submit(uid, partial(self.inbound.arrived, fact))

    async def _holding_caller(self, ch: ev.CoreShowChannel) -> f.CallerArrived | None:
        """A channel on hold at an entry point, as if its ImplusEntry had just come."""
        names = ("IMPLUS_ENTRY", "IMPLUS_SERVICE", "IMPLUS_USER", "IMPLUS_LANGUAGE")
        values = {k: v for k, v in ch.chan_vars.items() if k in names and v}
        if "IMPLUS_ENTRY" not in values:
            for name in names:
                value = await self.core.pbx.getvar(ch.uniqueid, name)
                if value is None:
                    return None  # gone
                values[name] = value
        if not values.get("IMPLUS_ENTRY") or not values.get("IMPLUS_SERVICE"):
            return None  # holding, but not at one of our entry points
        return f.CallerArrived(
            call_id=ch.uniqueid,
            channel=ch.channel,
            service=values["IMPLUS_SERVICE"],
            entry=values["IMPLUS_ENTRY"],
            user=values.get("IMPLUS_USER", ""),
            language=values.get("IMPLUS_LANGUAGE", "") or ch.language,
            exten=ch.exten,
            caller_num=ch.caller_id_num,
            caller_name=ch.caller_id_name,
            max_wait=0,
        )

    async def _router_side(self, channels: dict[str, ev.CoreShowChannel], repairs: Repairs) -> None:
        """Contacts and offers the router holds for calls of this PBX that are gone."""
        c = self.core
        live = set(channels)
        known = {call.id for call in c.book.all()}
        try:
            for agent in sorted(set(self.presence.agent_of.values())):
                for request in await c.router.agent_contacts(agent):
                    channel_id = self._channel_of(request.pbx, request.call_id, request.offer)
                    if request.channel is Channel.CHAT or not channel_id:
                        continue
                    if channel_id not in live and channel_id not in known:
                        repairs.router_fixed.append(request.id)
                        await c.ask("complete", partial(c.router.complete, request.id))
                for offer in await c.router.agent_offers(agent):
                    if offer.channel is Channel.CHAT or offer.state is not OfferState.PENDING:
                        continue
                    offered = await c.router.request(offer.request_id)
                    if offered is None or offered.state is not RequestState.OFFERED:
                        continue
                    channel_id = self._channel_of(offered.pbx, offered.call_id, offer.id)
                    if channel_id and channel_id not in live and channel_id not in known:
                        repairs.router_fixed.append(offered.id)
                        if offered.callback:
                            await c.ask(
                                "offer_failed",
                                partial(c.router.offer_failed, offer.id, "unavailable"),
                            )
                        else:
                            await c.ask(
                                "cancel", partial(c.router.cancel, offered.id, "caller gone")
                            )
        except RouterError as e:
            log.error("router-side reconciliation stopped: %s", e)

    def _channel_of(self, pbx: str, call_id: str, offer: str) -> str:
        """The channel that carries a request on this PBX: the caller, or for a callback
        (no caller) the agent leg; '' when the request is not this PBX's."""
        if call_id:
            return call_id if pbx == self.core.pbx_id else ""
        return leg_id(offer) if offer else ""
