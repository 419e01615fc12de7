"""Inbound calls: a caller at an entry point, routed by the router, connected to an agent.

The life of a call (docs/call-flow.md is the dialplan side of it):

1. `ImplusEntry` -> the caller holds; the bridge files a `voice` routing request in the
   caller's session (`submit`; the request id is in the book first, so filing twice is
   harmless).
2. `ring_agent` -> Originate the agent's phone into `implus-agent` with IMPLUS_CALLER etc.
   The caller keeps holding while it rings.
3. The agent answers -> `ImplusAgentAnswered`; the dialplan bridges the caller; the bridge
   `accept`s the offer. No answer / busy / unreachable -> `offer_failed(reason)` and the
   router offers the next agent while the caller keeps waiting.
4. The caller hangs up: while waiting or ringing -> `cancel` (abandoned); once connected
   -> `complete`. `overflow` -> Redirect to the entry's overflow; `hold` (a transfer) ->
   Redirect back to the hold step under the new request.

Each method runs inside the call's serial queue (`actors.Serial`), so it sees the call
as the previous event left it. The router decides; this module only carries out.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from dialplan.errors import DialplanError
from dialplan.targets import (
    agent_destination,
    agent_dial_string,
    agent_end_destination,
    hold_destination,
    overflow_destination,
)
from router.errors import InvalidInput, RouterError
from router.model import OfferState

from . import commands as cmd
from . import facts as f
from .callbook import Call, CallKind, CallState
from .errors import AmiActionFailed
from .pbx import caller_id, leg_id

if TYPE_CHECKING:
    from .core import BridgeCore

log = logging.getLogger("implus.ami_bridge")


def request_id_for(pbx_id: str, call_id: str, arrived_ms: int) -> str:
    """The routing request id of a caller's first request. It is written to the book
    before it is filed, so filing it again (after a crash) changes nothing. The arrival
    time is part of it: Asterisk's Uniqueids (`<epoch>.<counter>`) repeat when it
    restarts twice within a second."""
    return f"{pbx_id}-{call_id}-{arrived_ms}"


class InboundCalls:
    def __init__(self, core: BridgeCore) -> None:
        self.core = core

    # --- arrival ---------------------------------------------------------------------

    async def arrived(self, fact: f.CallerArrived) -> None:
        c = self.core
        if c.book.get(fact.call_id) is not None:
            return  # the same caller again (a repeated event, or found by reconciliation)
        if not fact.service:
            log.error(
                "caller %s at entry %r has no service: check the dialplan", fact.call_id, fact.entry
            )
            return
        arrived = c.clock()
        call = Call(
            id=fact.call_id,
            kind=CallKind.INBOUND,
            channel=fact.channel,
            request=request_id_for(c.pbx_id, fact.call_id, arrived),
            service=fact.service,
            entry=fact.entry,
            # An anonymous caller (no number) is known by the call id only.
            user=fact.user or fact.call_id,
            exten=fact.exten,
            caller_num=fact.caller_num,
            caller_name=fact.caller_name,
            language=fact.language,
            started_ms=arrived,
        )
        await c.book.save(call)
        await self.submit(call)

    async def submit(self, call: Call) -> None:
        """File (or file again) the caller's routing request."""
        c = self.core
        customer = {
            "language": call.language,
            "entry": call.entry,
            "caller": call.caller_num,
        }
        try:
            sub = await c.router.submit(
                channel="voice",
                service=call.service,
                user_id=call.user,
                customer=customer,
                pbx=c.pbx_id,
                call_id=call.id,
                request_id=call.request,
            )
        except InvalidInput as e:
            log.error(
                "caller %s cannot be routed (%s); it stays on hold until the entry point's "
                "own overflow",
                call.id,
                e,
            )
            return
        except RouterError as e:
            log.error("filing caller %s failed (%s); reconciliation retries", call.id, e)
            return
        call.session = sub.session_id
        await c.book.save(call)
        await c.note(
            call,
            "call.arrived",
            "arrived",
            entry=call.entry,
            caller=call.caller_num,
            direction="inbound",
        )

    # --- ringing an agent --------------------------------------------------------------

    async def ring_agent(self, command: cmd.RingAgent) -> None:
        c = self.core
        call = c.book.get(command.call_id)
        if call is None or call.kind is not CallKind.INBOUND:
            # The caller is gone (its hang-up cancelled the request) or not on this PBX.
            await c.ask("offer_failed", lambda: c.router.offer_failed(command.offer, "unavailable"))
            return
        if call.offer == command.offer:
            return  # a repeated command: this leg is already ringing (or was)
        if call.request != command.request or call.state not in (
            CallState.WAITING,
            CallState.RINGING,
        ):
            log.info(
                "ring_agent for %s ignored: call is %s/%s",
                command.request,
                call.request,
                call.state,
            )
            return
        offer = await c.router.offer(command.offer)
        if offer is None or offer.state is not OfferState.PENDING:
            return  # stale: the router already moved on
        try:
            dial = agent_dial_string(c.config, c.pbx_id, command.agent)
        except (KeyError, DialplanError) as e:
            log.error(
                "cannot ring agent %s: %s (add the agent to the admin config)", command.agent, e
            )
            await c.ask("offer_failed", lambda: c.router.offer_failed(command.offer, "unavailable"))
            return
        ring_s = c.ring_seconds(offer.deadline, command.at, command.timeout)
        if ring_s <= 0:
            return  # the offer is about to time out; the router moves on by itself
        if call.state is CallState.RINGING and call.leg:
            await c.pbx.hangup(call.leg)
        call.state = CallState.RINGING
        call.offer, call.agent = command.offer, command.agent
        call.leg, call.action = leg_id(command.offer), f"ring-{command.offer}"
        await c.book.save(call)  # before Originate: its events must find the call
        try:
            await c.pbx.originate(
                dial,
                agent_destination(),
                leg=call.leg,
                action_id=call.action,
                ring_seconds=ring_s,
                caller=caller_id(call.caller_name, call.caller_num),
                variables={
                    "IMPLUS_CALLER": call.id,
                    "IMPLUS_AGENT": command.agent,
                    "IMPLUS_OFFER": command.offer,
                    "IMPLUS_REQUEST": call.request,
                    "IMPLUS_SESSION": call.session,
                },
            )
        except AmiActionFailed as e:
            log.warning("ringing agent %s failed at once: %s", command.agent, e)
            await self._ring_ended(call, "unavailable", 0)
            return
        await c.note(
            call, "call.ringing", f"ringing:{command.offer}", party="agent", agent=command.agent
        )

    async def cancel_ring(self, call: Call, command: cmd.CancelRing) -> None:
        if call.offer != command.offer or call.state is not CallState.RINGING:
            return
        leg = call.leg
        self._clear_agent(call)
        await self.core.book.save(call)
        await self.core.pbx.hangup(leg)
        await self.core.note(
            call,
            "call.hangup",
            f"cancelled:{command.offer}",
            party="agent",
            agent=command.agent,
            reason="ring cancelled",
        )

    async def leg_failed(self, call: Call, fact: f.LegFailed) -> None:
        if call.state is not CallState.RINGING:
            return
        if fact.leg_id != call.leg and fact.action_id != call.action:
            return  # an older leg
        await self._ring_ended(call, fact.reason, fact.cause)

    async def _ring_ended(self, call: Call, reason: f.LegFailure, cause: int) -> None:
        c = self.core
        offer, agent = call.offer, call.agent
        self._clear_agent(call)
        await c.book.save(call)  # first: the next ring_agent must find the call waiting
        await c.ask("offer_failed", lambda: c.router.offer_failed(offer, reason))
        await c.note(
            call,
            "call.hangup",
            f"failed:{offer}",
            party="agent",
            agent=agent,
            reason=reason,
            cause=cause,
        )

    # --- answer and bridge ---------------------------------------------------------------

    async def agent_answered(self, call: Call, fact: f.AgentAnswered) -> None:
        c = self.core
        if call.state is not CallState.RINGING or fact.leg_id != call.leg:
            # A leg we no longer want answered (cancelled, or an old offer): it must not
            # take the caller from its hold or from the agent now ringing.
            await self._refuse_leg(call, fact.leg_id)
            return
        result = await c.ask("accept", lambda: c.router.accept(call.offer, call.agent))
        if result is not None and not result.ok:
            log.info(
                "offer %s no longer valid (%s): caller back on hold", call.offer, result.reason
            )
            leg, agent, offer = call.leg, call.agent, call.offer
            self._clear_agent(call)
            await c.book.save(call)
            await self._refuse_leg(call, leg)
            await c.note(
                call,
                "call.hangup",
                f"refused:{offer}",
                party="agent",
                agent=agent,
                reason=f"offer {result.reason}",
            )
            return
        call.state = CallState.CONNECTED
        call.answered_ms = c.clock()
        await c.book.save(call)
        await c.note(
            call,
            "call.answered",
            f"answered:{call.offer}",
            party="agent",
            agent=call.agent,
            waited_s=c.seconds_since(call.started_ms),
        )

    async def unknown_answer(self, fact: f.AgentAnswered) -> None:
        """An agent leg answered for a call the book does not know (the book was lost):
        if the router still offers it, the call is taken on as connected; else the leg
        is ended before it bridges."""
        c = self.core
        result = await c.ask("accept", lambda: c.router.accept(fact.offer, fact.agent))
        offer = await c.router.offer(fact.offer) if result else None
        request = await c.router.request(offer.request_id) if offer else None
        if request is None or not result:
            if not await c.pbx.redirect(fact.leg_id, agent_end_destination()):
                await c.pbx.hangup(fact.leg_id)
            return
        call = Call(
            id=fact.caller,
            kind=CallKind.INBOUND,
            state=CallState.CONNECTED,
            request=request.id,
            session=request.session_id,
            service=request.service,
            user=request.user_id,
            exten=await c.pbx.getvar(fact.caller, "EXTEN") or "",
            offer=fact.offer,
            agent=fact.agent,
            leg=fact.leg_id,
            started_ms=request.created,
            answered_ms=c.clock(),
        )
        await c.book.save(call)
        await c.note(
            call, "call.answered", f"answered:{fact.offer}", party="agent", agent=fact.agent
        )

    async def _refuse_leg(self, call: Call, leg: str) -> None:
        """End an answered leg without losing the caller: both jump at once (the caller to
        its hold step, the leg to its hang-up), which also undoes a bridge already made
        (Bridge()'s `x` would otherwise hang the caller up with the leg)."""
        c = self.core
        if call.state in (CallState.WAITING, CallState.RINGING):
            moved = await c.pbx.redirect(
                call.id, hold_destination(call.exten), extra=(leg, agent_end_destination())
            )
            if moved:
                return
        if not await c.pbx.redirect(leg, agent_end_destination()):
            await c.pbx.hangup(leg)

    async def bridged(self, call: Call, fact: f.Bridged) -> None:
        if fact.uniqueid != call.id or call.state is not CallState.CONNECTED or call.bridged_ms:
            return
        call.bridged_ms = self.core.clock()
        await self.core.book.save(call)
        await self.core.note(
            call, "call.bridged", f"bridged:{call.offer}", agent=call.agent, bridge=fact.bridge_id
        )

    # --- the end ---------------------------------------------------------------------------

    async def gone(self, call: Call, fact: f.ChannelGone) -> None:
        c = self.core
        if fact.uniqueid == call.leg and call.state is CallState.CONNECTED:
            await c.note(
                call,
                "call.hangup",
                f"agent-hangup:{call.offer}",
                party="agent",
                agent=call.agent,
                cause=fact.cause,
                cause_txt=fact.cause_txt,
                duration_s=c.seconds_since(call.answered_ms),
            )
            return  # the caller follows (Bridge option x); its hang-up completes the contact
        if fact.uniqueid != call.id:
            return  # a ringing leg's end is told by its OriginateResponse
        if call.state in (CallState.WAITING, CallState.RINGING):
            if call.state is CallState.RINGING and call.leg:
                await c.pbx.hangup(call.leg)
            await c.ask("cancel", lambda: c.router.cancel(call.request, "abandoned"))
        elif call.state is CallState.CONNECTED:
            await c.ask("complete", lambda: c.router.complete(call.request))
        await c.note(
            call,
            "call.hangup",
            "caller-hangup",
            party="customer",
            agent=call.agent,
            state=call.state.value,
            cause=fact.cause,
            cause_txt=fact.cause_txt,
            duration_s=c.seconds_since(call.started_ms),
            talk_s=c.seconds_since(call.bridged_ms or call.answered_ms),
        )
        await c.book.drop(call)

    # --- router decisions about a waiting caller ------------------------------------------

    async def overflow(self, call: Call, command: cmd.Overflow) -> None:
        c = self.core
        if call.request != command.request or call.state not in (
            CallState.WAITING,
            CallState.RINGING,
        ):
            return
        try:
            to = overflow_destination(c.config, call.entry)
        except KeyError:
            log.error(
                "caller %s: entry point %r is not in the admin config, cannot overflow it; "
                "the dialplan's own overflow takes it after max wait",
                call.id,
                call.entry,
            )
            return
        if call.state is CallState.RINGING:
            await c.pbx.hangup(call.leg)
        self._clear_agent(call)
        call.state = CallState.OVERFLOWED
        await c.book.save(call)
        await c.pbx.redirect(call.id, to)
        await c.note(
            call,
            "call.transferred",
            "overflow",
            to="overflow",
            destination=command.destination or call.entry,
        )

    async def dialplan_overflow(self, call: Call, fact: f.DialplanOverflow) -> None:
        """The entry point's hold step ran out and the dialplan overflowed the caller."""
        c = self.core
        if call.state not in (CallState.WAITING, CallState.RINGING):
            return
        if call.state is CallState.RINGING:
            await c.pbx.hangup(call.leg)
        self._clear_agent(call)
        call.state = CallState.OVERFLOWED
        await c.book.save(call)
        await c.ask(
            "cancel", lambda: c.router.cancel(call.request, "overflowed by the PBX (max wait)")
        )
        await c.note(
            call, "call.transferred", "overflow", to="overflow", destination=fact.destination
        )

    async def hold(self, call: Call, command: cmd.Hold) -> None:
        """A transfer: the caller goes back on hold as `command.request`."""
        c = self.core
        if call.request == command.request:
            return
        old_leg, old_agent = call.leg, call.agent
        was_connected = call.state is CallState.CONNECTED
        call.request = command.request
        self._clear_agent(call)
        call.answered_ms = call.bridged_ms = 0
        await c.book.save(call)
        if was_connected and old_leg:
            await c.pbx.redirect(
                call.id, hold_destination(call.exten), extra=(old_leg, agent_end_destination())
            )
        await c.note(
            call,
            "call.transferred",
            f"hold:{command.request}",
            to="queue",
            from_agent=old_agent or command.agent,
            request=command.request,
        )

    def _clear_agent(self, call: Call) -> None:
        call.state = CallState.WAITING if call.state is not CallState.OVERFLOWED else call.state
        call.offer = call.agent = call.leg = call.action = ""
