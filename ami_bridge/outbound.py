"""Outbound VoIP calls, agent first: the widget's "call me" and the desktop's click-to-call.

The bridge Originates the agent's phone into `implus-outbound` (extension = the trunk the
call's service uses); once the agent answers, the dialplan dials the customer through the
trunk. Both legs are a call leg of the session: ringing, answered, bridged and hang-up of
each go to the transcript. A `callback` is a routed request: the agent's answer
`accept`s the offer, the end `complete`s it, a phone that does not answer is
`offer_failed`. A click-to-call is the agent's own action: nothing to route.

The call is keyed by the agent leg's Uniqueid (`pbx.leg_id(offer or call id)`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from admin_config.errors import AdminConfigError
from admin_config.targets import agent_dial_string, outbound_destination
from router.model import OfferState

from . import commands as cmd
from . import facts as f
from .callbook import Call, CallKind, CallState
from .errors import AmiActionFailed
from .pbx import caller_id, leg_id
from .translate import DIAL_STATUS_CAUSES, cause_name, failure_reason

if TYPE_CHECKING:
    from .core import BridgeCore

log = logging.getLogger("implus.ami_bridge")

#: A click-to-call older than this when the bridge reads it is not placed any more (the
#: bridge was down; ringing the agent's phone minutes after the click would surprise).
STALE_CLICK_S = 60.0


class OutboundCalls:
    def __init__(self, core: BridgeCore, ring_s: float = 30.0) -> None:
        self.core = core
        self.ring_s = ring_s

    async def callback(self, command: cmd.Callback) -> None:
        c = self.core
        leg = leg_id(command.offer)
        if c.book.get(leg) is not None:
            return  # repeated command
        offer = await c.router.offer(command.offer)
        if offer is None or offer.state is not OfferState.PENDING:
            return
        request = await c.router.request(command.request)
        call = Call(
            id=leg,
            kind=CallKind.CALLBACK,
            state=CallState.RINGING,
            request=command.request,
            session=command.session,
            service=request.service if request else "",
            offer=command.offer,
            agent=command.agent,
            leg=leg,
            action=f"ring-{command.offer}",
            number=command.number,
            started_ms=c.clock(),
        )
        ring_s = c.ring_seconds(offer.deadline, command.at, command.timeout)
        if ring_s <= 0:
            return  # about to time out: the router moves on by itself
        if not await self._place(call, ring_s):
            await c.ask("offer_failed", lambda: c.router.offer_failed(command.offer, "unavailable"))

    async def click_to_call(self, command: cmd.ClickToCall) -> None:
        c = self.core
        leg = leg_id(command.call)
        if c.book.get(leg) is not None:
            return
        session = await c.router.session(command.session)
        call = Call(
            id=leg,
            kind=CallKind.CLICK_TO_CALL,
            state=CallState.RINGING,
            session=command.session,
            service=session.service if session else "",
            agent=command.agent,
            leg=leg,
            action=f"call-{command.call}",
            click=command.call,
            number=command.number,
            started_ms=c.clock(),
        )
        if command.at and c.clock() - command.at > STALE_CLICK_S * 1000:
            await self._note(call, "call.hangup", party="agent", reason="request too old")
            return
        await self._place(call, self.ring_s)

    async def _place(self, call: Call, ring_s: float) -> bool:
        """Originate the agent leg; False (and a transcript line) if it cannot be placed."""
        c = self.core
        try:
            to = outbound_destination(c.config, c.pbx_id, call.service or None)
            dial = agent_dial_string(c.config, c.pbx_id, call.agent)
        except (KeyError, AdminConfigError) as e:
            log.error("outbound call %s cannot be placed: %s", call.id, e)
            await self._note(call, "call.hangup", party="agent", reason=str(e)[:200])
            return False
        call.trunk = to.exten
        call.ringing_ms = c.clock()
        await c.book.save(call)
        try:
            await c.pbx.originate(
                dial,
                to,
                leg=call.id,
                action_id=call.action,
                ring_seconds=ring_s,
                caller=caller_id(f"Call {call.number}", call.number),
                variables={
                    "IMPLUS_DIAL": call.number,
                    "IMPLUS_AGENT": call.agent,
                    "IMPLUS_SESSION": call.session,
                    "IMPLUS_OFFER": call.offer,
                    "IMPLUS_CALL": call.id,
                },
            )
        except AmiActionFailed as e:
            log.warning("outbound call %s failed at once: %s", call.id, e)
            await c.book.drop(call)
            await self._note(call, "call.hangup", party="agent", reason=str(e)[:200])
            return False
        await self._note(call, "call.ringing", party="agent", agent=call.agent)
        return True

    async def _note(self, call: Call, etype: str, **data: object) -> None:
        """A transcript entry of this outbound call: both legs carry the number and the
        click-to-call's id (`call`); `leg` defaults to the agent's."""
        data.setdefault("leg", call.id)
        await self.core.note(call, etype, call=call.click, number=call.number, **data)

    async def agent_answered(self, call: Call) -> None:
        """The agent's phone answered (ImplusOutbound, or OriginateResponse success)."""
        c = self.core
        if call.state is not CallState.RINGING:
            return
        if call.kind is CallKind.CALLBACK:
            result = await c.ask("accept", lambda: c.router.accept(call.offer, call.agent))
            if result is not None and not result.ok:
                log.info("callback offer %s no longer valid: hanging up", call.offer)
                await c.pbx.hangup(call.id)
                return
        call.state = CallState.CONNECTED
        call.answered_ms = c.clock()
        await c.book.save(call)
        await self._note(call, "call.answered", party="agent", agent=call.agent)

    async def cancel_ring(self, call: Call, command: cmd.CancelRing) -> None:
        if call.offer == command.offer and call.state is CallState.RINGING:
            await self.core.pbx.hangup(call.id)

    async def dial_started(self, call: Call, fact: f.DialStarted) -> None:
        if fact.uniqueid != call.id or call.customer_leg:
            return
        call.customer_leg = fact.dest_id
        await self.core.book.save(call)
        await self._note(call, "call.ringing", leg=fact.dest_id, party="customer", trunk=call.trunk)

    async def dial_ended(self, call: Call, fact: f.DialEnded) -> None:
        c = self.core
        if fact.uniqueid != call.id:
            return
        if fact.status == "ANSWER":
            call.customer_answered_ms = c.clock()
            await c.book.save(call)
            await self._note(call, "call.answered", leg=fact.dest_id, party="customer")
        else:
            await self._note(
                call,
                "call.hangup",
                leg=fact.dest_id,
                party="customer",
                cause=DIAL_STATUS_CAUSES.get(fact.status, "UNKNOWN"),
                answered=False,
                reason=fact.status.lower(),
            )

    async def bridged(self, call: Call, fact: f.Bridged) -> None:
        if fact.uniqueid != call.id or call.bridged_ms:
            return
        call.bridged_ms = self.core.clock()
        await self.core.book.save(call)
        await self._note(
            call,
            "call.bridged",
            agent=call.agent,
            customer_leg=call.customer_leg,
            wait_s=self.core.seconds_since(call.started_ms),
        )

    async def leg_failed(self, call: Call, fact: f.LegFailed) -> None:
        if call.state is CallState.RINGING:
            await self._ended_unanswered(call, fact.reason, fact.cause)

    async def gone(self, call: Call, fact: f.ChannelGone) -> None:
        c = self.core
        if fact.uniqueid == call.customer_leg and fact.uniqueid != call.id:
            await self._customer_leg_ended(call, fact)
            return
        if fact.uniqueid != call.id:
            return
        if call.state is CallState.RINGING:
            # Busy: the Hangup (cause 17) may come before the OriginateResponse - act now.
            await self._ended_unanswered(call, failure_reason(0, "", fact.cause), fact.cause)
            return
        if call.customer_answered_ms and not call.customer_gone:
            # the two Hangups come in either order; the call ends with the agent's leg
            call.ended_by = call.ended_by or "agent"
            await self._customer_leg_ended(call, fact)
        if call.kind is CallKind.CALLBACK:
            await c.ask("complete", lambda: c.router.complete(call.request))
        await self._note(
            call,
            "call.hangup",
            party="agent",
            agent=call.agent,
            cause=cause_name(fact.cause),
            cause_txt=fact.cause_txt,
            duration_s=c.seconds_since(call.answered_ms),
            talk_s=c.seconds_since(call.customer_answered_ms),
            ended_by=call.ended_by or "agent",
        )
        await c.book.drop(call)

    async def _customer_leg_ended(self, call: Call, fact: f.ChannelGone) -> None:
        call.customer_gone = True
        call.ended_by = call.ended_by or "customer"
        await self._note(
            call,
            "call.hangup",
            leg=call.customer_leg,
            party="customer",
            cause=cause_name(fact.cause),
            cause_txt=fact.cause_txt,
            duration_s=self.core.seconds_since(call.customer_answered_ms),
            ended_by=call.ended_by,
        )

    async def _ended_unanswered(self, call: Call, reason: f.LegFailure, cause: int) -> None:
        c = self.core
        await c.book.drop(call)
        if call.kind is CallKind.CALLBACK:
            await c.ask("offer_failed", lambda: c.router.offer_failed(call.offer, reason))
        await self._note(
            call,
            "call.hangup",
            party="agent",
            agent=call.agent,
            cause=cause_name(cause),
            duration_s=c.seconds_since(call.ringing_ms),
            answered=False,
            reason=reason,
        )
