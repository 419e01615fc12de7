"""Inbound calls: a caller at an entry point, routed by the router, connected to an agent.

The life of a call (docs/call-flow.md is the dialplan side of it):

1. `ImplusEntry` -> the caller holds; the bridge files a `voice` routing request in the
   caller's session (`submit`; the request id is in the book first, so filing twice is
   harmless).
2. `ring_agent` -> the bridge sets IMPLUS_AGENT_DIAL / IMPLUS_RING on the caller and
   Redirects it to `implus-connect`, where the caller's own Dial rings the agent's phone
   (hold music goes on while it rings). The same mechanism as app_queue: no Originate,
   no channel yanked into a bridge.
3. The agent answers (`DialEnd ANSWER`) -> `accept`; Asterisk has already bridged them.
   No answer / busy / unreachable -> `offer_failed(reason)`; the dialplan takes the caller
   back to its hold step and the router offers the next agent.
4. The caller hangs up: while waiting or ringing -> `cancel` (abandoned); once connected
   -> `complete`. `overflow` -> Redirect to the entry's overflow; `hold` (a transfer) ->
   Redirect back to the hold step under the new request.

Each method runs inside the call's serial queue (`actors.Serial`), so it sees the call
as the previous event left it. The router decides; this module only carries out.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import redis.exceptions

from admin_config.errors import AdminConfigError
from admin_config.targets import (
    AGENT_DIAL_VAR,
    RING_VAR,
    agent_dial_string,
    connect_destination,
    hold_destination,
    overflow_destination,
)
from router.errors import InvalidInput, RouterError
from router.model import OfferState
from router.ops import Op

from . import commands as cmd
from . import facts as f
from .batch import step, together
from .callbook import Call, CallKind, CallState
from .translate import DIAL_STATUS_CAUSES, cause_name, failure_reason

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
        await self.submit(call, save=True)

    async def submit(self, call: Call, save: bool = False) -> None:
        """File (or file again) the caller's routing request. With `save` the call book's
        record goes first, in the same round trip (a crash between the two cannot file
        a request the next bridge would not know)."""
        c = self.core
        # the fields both bridges send (docs/call-flow.md), empty ones left out
        customer = {
            k: v
            for k, v in (
                ("language", call.language),
                ("entry", call.entry),
                ("number", call.caller_num),
            )
            if v
        }
        submit = c.router.ops.submit(
            channel="voice",
            service=call.service,
            user_id=call.user,
            customer=customer,
            pbx=c.pbx_id,
            call_id=call.id,
            request_id=call.request,
        )
        try:
            if save:
                _, sub = await c.router.run(together(step(c.book.save_step(call)), submit))
            else:
                sub = await c.router.run(submit)
        except InvalidInput as e:
            log.error(
                "caller %s cannot be routed (%s); it stays on hold until the entry point's "
                "own overflow",
                call.id,
                e,
            )
            if save:
                await c.book.save(call)  # known anyway: its hang-up ends it cleanly
            return
        except (RouterError, redis.exceptions.RedisError) as e:
            log.error("filing caller %s failed (%s); reconciliation retries", call.id, e)
            return
        call.session = sub.session_id
        c.book.touch(call)  # persisted with the next change; a restart files it again
        await c.note(
            call,
            "call.answered",  # by the entry point
            leg=call.id,
            party="customer",
            entry=call.entry,
            number=call.caller_num,
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
            return  # a repeated command: this agent is already being rung (or was)
        if call.request != command.request or call.state not in (
            CallState.WAITING,
            CallState.RINGING,
        ):
            log.info(
                "ring_agent for %s ignored: call %s is %s", command.request, call.id, call.state
            )
            return
        deadline = 0
        if not c.is_fresh(command.at):  # read again after a restart or a retry
            offer = await c.router.offer(command.offer)
            if offer is None or offer.state is not OfferState.PENDING:
                return  # stale: the router already moved on
            deadline = offer.deadline
        try:
            dial = agent_dial_string(c.config, c.pbx_id, command.agent)
        except (KeyError, AdminConfigError) as e:
            log.error("cannot ring agent %s: %s (check the admin config)", command.agent, e)
            await c.ask("offer_failed", lambda: c.router.offer_failed(command.offer, "unavailable"))
            return
        ring_s = c.ring_seconds(deadline, command.at, command.timeout)
        if ring_s <= 0:
            return  # the offer is about to time out; the router moves on by itself
        call.state = CallState.RINGING
        call.offer, call.agent, call.leg = command.offer, command.agent, ""
        call.ringing_ms = c.clock()
        await c.book.save(call)  # before the Redirect: its Dial events must find the call
        rung = await c.pbx.ring_for(
            call.id,
            connect_destination(),
            {AGENT_DIAL_VAR: dial, RING_VAR: f"{ring_s:.3f}"},
        )
        if not rung:
            return  # the caller hung up meanwhile; its Hangup cancels the request

    async def dial_started(self, call: Call, fact: f.DialStarted) -> None:
        """The caller's Dial rings the agent: remember the agent's channel."""
        if fact.uniqueid != call.id or call.state is not CallState.RINGING or call.leg:
            return
        call.leg = fact.dest_id
        self.core.book.touch(call)
        await self.core.note(
            call,
            "call.ringing",
            call.offer,
            leg=call.leg,
            party="agent",
            agent=call.agent,
            offer=call.offer,
        )

    async def dial_ended(self, call: Call, fact: f.DialEnded) -> None:
        if fact.uniqueid != call.id or call.state is not CallState.RINGING:
            return
        if not call.leg or fact.dest_id != call.leg:
            return  # the end of an earlier Dial (cancelled before this one began)
        if fact.status == "ANSWER":
            await self._answered(call)
        elif fact.status != "CANCEL":  # CANCEL: the bridge or the caller stopped it
            await self._ring_ended(call, fact.status)

    async def ring_ended(self, call: Call, fact: f.RingEnded) -> None:
        """The dialplan says the Dial returned unanswered (also when no agent channel was
        ever made, so no DialEnd came)."""
        if fact.call_id == call.id and call.state is CallState.RINGING:
            await self._ring_ended(call, fact.status)

    async def _answered(self, call: Call) -> None:
        c = self.core
        call.state = CallState.CONNECTED  # written with the accept, in one round trip
        call.answered_ms = c.clock()
        done = await c.run(
            "accept", c.router.ops.accept(call.offer, call.agent), step(c.book.save_step(call))
        )
        result = done[0] if done else None
        if result is not None and not result.ok:
            # The offer ended meanwhile (rescinded, timed out): this agent must not keep
            # the caller. Back on hold; the agent's phone is hung up with the bridge.
            log.info("offer %s is %s: the caller goes back on hold", call.offer, result.reason)
            agent, offer, leg = call.agent, call.offer, call.leg
            self._clear_agent(call)
            call.answered_ms = 0
            await c.book.save(call)
            await c.pbx.redirect(call.id, hold_destination(call.exten))
            await c.note(
                call,
                "call.hangup",
                offer,
                leg=leg,
                party="agent",
                agent=agent,
                cause="NORMAL_CLEARING",
                reason=f"offer {result.reason}",
            )
            return
        await c.note(
            call, "call.answered", call.offer, leg=call.leg, party="agent", agent=call.agent
        )

    async def answered_meanwhile(self, call: Call, bridge_id: str) -> None:
        """Reconciliation found the caller bridged while the bridge was not listening."""
        if call.state is CallState.RINGING:
            await self._answered(call)
            await self.bridged(call, f.Bridged(call.id, bridge_id))

    async def cancel_ring(self, call: Call, command: cmd.CancelRing) -> None:
        c = self.core
        if call.offer != command.offer or call.state is not CallState.RINGING:
            return
        leg, ringing_ms = call.leg, call.ringing_ms
        self._clear_agent(call)
        await c.book.save(call)
        await c.pbx.redirect(call.id, hold_destination(call.exten))  # ends the Dial
        await c.note(
            call,
            "call.hangup",
            command.offer,
            leg=leg,
            party="agent",
            agent=command.agent,
            cause="ORIGINATOR_CANCEL",
            duration_s=c.seconds_since(ringing_ms),
            answered=False,
            reason="ring cancelled",
        )

    async def ring_lost(self, call: Call) -> None:
        """Reconciliation: the caller is back on hold, the ringing ended unseen."""
        if call.state is CallState.RINGING:
            await self._ring_ended(call, "")

    async def _ring_ended(self, call: Call, status: str) -> None:
        """The agent's phone did not answer: `offer_failed` (no_answer / busy /
        unavailable, from the Dial's status) and the router offers the next agent."""
        c = self.core
        reason = failure_reason(0, status, 0)
        offer, agent, leg, ringing_ms = call.offer, call.agent, call.leg, call.ringing_ms
        self._clear_agent(call)  # the next ring_agent finds the call waiting
        await c.run(
            "offer_failed", step(c.book.save_step(call)), c.router.ops.offer_failed(offer, reason)
        )
        await c.note(
            call,
            "call.hangup",
            offer,
            leg=leg,
            party="agent",
            agent=agent,
            cause=DIAL_STATUS_CAUSES.get(status, "UNKNOWN"),
            duration_s=c.seconds_since(ringing_ms),
            answered=False,
            reason=reason,
        )

    async def bridged(self, call: Call, fact: f.Bridged) -> None:
        if fact.uniqueid != call.id or call.state is not CallState.CONNECTED or call.bridged_ms:
            return
        call.bridged_ms = self.core.clock()
        self.core.book.touch(call)
        await self.core.note(
            call,
            "call.bridged",
            call.offer,
            agent=call.agent,
            agent_leg=call.leg,
            wait_s=self.core.seconds_since(call.started_ms),
        )

    # --- the end ---------------------------------------------------------------------------

    async def gone(self, call: Call, fact: f.ChannelGone) -> None:
        c = self.core
        if fact.uniqueid == call.leg and call.state is CallState.CONNECTED:
            await self._agent_leg_ended(call, fact)
            return  # the caller follows (Dial without `g`); its hang-up completes the contact
        if fact.uniqueid != call.id:
            return  # a ringing agent phone's end is told by the caller's DialEnd
        talking = call.state is CallState.CONNECTED
        ended_by = call.ended_by or "customer"
        if talking and call.leg and not call.agent_gone:
            # Asterisk may report the caller's Hangup before the agent's: the call ends
            # here, so the agent's leg is written down now, with the same cause.
            call.ended_by = ended_by
            await self._agent_leg_ended(call, fact)
        await c.note(
            call,
            "call.hangup",
            leg=call.id,
            party="customer",
            agent=call.agent,
            state=call.state.value,
            cause=cause_name(fact.cause),
            cause_txt=fact.cause_txt,
            duration_s=c.seconds_since(call.started_ms),
            talk_s=c.seconds_since(call.bridged_ms or call.answered_ms) if talking else 0,
            ended_by=ended_by,
        )
        ops: list[Op[Any]] = []
        if call.state in (CallState.WAITING, CallState.RINGING):
            # (a ringing agent phone stops with the caller's Dial)
            ops.append(c.router.ops.cancel(call.request, "abandoned"))
        elif call.state is CallState.CONNECTED:
            ops.append(c.router.ops.complete(call.request))
        await c.run("end of call", *ops, step(c.book.drop_step(call)))

    async def _agent_leg_ended(self, call: Call, fact: f.ChannelGone) -> None:
        c = self.core
        call.agent_gone = True
        call.ended_by = call.ended_by or "agent"
        await c.note(
            call,
            "call.hangup",
            leg=call.leg,
            party="agent",
            agent=call.agent,
            cause=cause_name(fact.cause),
            cause_txt=fact.cause_txt,
            duration_s=c.seconds_since(call.answered_ms),
            ended_by=call.ended_by,
        )

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
        self._clear_agent(call)
        call.state = CallState.OVERFLOWED
        await c.book.save(call)
        await c.pbx.redirect(call.id, to)  # also ends a Dial ringing an agent
        await c.note(
            call,
            "call.transferred",
            call.request,
            to="overflow",
            destination=command.destination or call.entry,
            by="router",
        )

    async def dialplan_overflow(self, call: Call, fact: f.DialplanOverflow) -> None:
        """The entry point's hold step ran out and the dialplan overflowed the caller."""
        c = self.core
        if call.state not in (CallState.WAITING, CallState.RINGING):
            return
        self._clear_agent(call)
        call.state = CallState.OVERFLOWED
        await c.book.save(call)
        await c.ask(
            "cancel", lambda: c.router.cancel(call.request, "overflowed by the PBX (max wait)")
        )
        await c.note(
            call,
            "call.transferred",
            call.request,
            to="overflow",
            destination=fact.destination,
            by="dialplan",
        )

    async def hold(self, call: Call, command: cmd.Hold) -> None:
        """A transfer: the caller goes back on hold as `command.request`."""
        c = self.core
        if call.request == command.request:
            return
        old_agent = call.agent
        was_busy = call.state in (CallState.CONNECTED, CallState.RINGING)
        call.request = command.request
        self._clear_agent(call)
        call.answered_ms = call.bridged_ms = 0
        await c.book.save(call)
        if was_busy:  # out of the agent's bridge (the agent's phone hangs up) onto hold
            await c.pbx.redirect(call.id, hold_destination(call.exten))
        await c.note(
            call,
            "call.transferred",
            command.request,
            to="hold",
            agent=old_agent or command.agent,
            by="router",
        )

    def _clear_agent(self, call: Call) -> None:
        call.state = CallState.WAITING if call.state is not CallState.OVERFLOWED else call.state
        call.offer = call.agent = call.leg = call.action = call.ended_by = ""
        call.agent_gone = False
