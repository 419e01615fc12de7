"""Outbound calls, agent first: the widget's "call me" (`callback`) and the desktop's
click-to-call, the same on both PBXs.

1. The agent's phone rings first (`PlaceAgentFirst`, as a leg the bridge names after the
   offer / click, so a repeated command cannot ring twice).
2. The agent answers (`LegAnswered`): a callback is `accept`ed first (refused -> the leg is
   hung up); then the customer is dialled through the service's trunk (`DialCustomer`).
3. The customer's phone rings (`LegRinging`), answers (`LegAnswered` by the agent leg, or
   the `Bridged` pair), and the two talk. The agent's leg ending ends the call: a
   callback's request is completed; one whose agent never answered is `offer_failed`.

Both legs are legs of the session: ringing, answered, bridged and hang-up of each go to the
transcript. A click-to-call is the agent's own action: nothing is routed.
"""

from __future__ import annotations

import logging
import re

from admin_config.errors import NoRoute
from admin_config.targets import dial_agent, outbound_destination
from router.errors import RouterError
from router.model import OfferState

from . import commands as cmd
from . import facts as f
from . import intents as do
from . import policy, recording
from .context import FlowContext
from .records import Call, CallKind, CallState
from .steps import Ask, Do, Drop, Flow, Save, Touch

log = logging.getLogger("implus.callflow")

NUMBER = re.compile(r"^\+?[0-9]{1,32}$")


class OutboundFlow:
    def __init__(self, ctx: FlowContext) -> None:
        self.ctx = ctx

    def start(self, command: cmd.Callback | cmd.ClickToCall) -> Flow:
        c = self.ctx
        callback = isinstance(command, cmd.Callback)
        key = command.offer if isinstance(command, cmd.Callback) else command.call
        leg = c.leg_id(key)
        if c.book.get(leg) is not None:
            return  # a repeated command
        now = c.now()
        call = Call(
            id=leg,
            kind=CallKind.CALLBACK if callback else CallKind.CLICK_TO_CALL,
            state=CallState.RINGING,
            session=command.session,
            agent=command.agent,
            leg=leg,
            number=command.number,
            started_ms=now,
            ringing_ms=now,
        )
        seconds = policy.CLICK_RING_S
        if isinstance(command, cmd.Callback):
            call.offer, call.request = command.offer, command.request
            offer = yield from c.ask("offer", c.ops.offer(command.offer))
            if offer is None or offer.state is not OfferState.PENDING:
                return  # the router moved on
            seconds = policy.ring_seconds(offer.deadline, command.at, command.timeout, now)
            if seconds <= 0:
                return  # about to time out: the router moves on by itself
        else:
            call.click = command.call
            if policy.too_old(command.at, now, policy.STALE_CLICK_S):
                yield from self._refused(call, "request too old")
                return
        try:
            if not NUMBER.match(command.number):
                raise NoRoute(f"{command.number!r} is not a phone number")
            session = yield Ask(c.ops.session(command.session), "session")
            if session is None:
                raise NoRoute(f"session {command.session} does not exist")
            call.session, call.service, call.user = session.id, session.service, session.user_id
            trunk = outbound_destination(c.config, c.pbx_id, session.service or None)
            dial = dial_agent(c.config, c.pbx_id, command.agent, command.endpoint, c.pbx_id)
        except (NoRoute, KeyError, RouterError) as e:
            log.error(
                "%s to %s for agent %s not placed: %s",
                command.type,
                command.number,
                command.agent,
                e,
            )
            yield from self._refused(call, str(e)[:200])
            return
        call.trunk = trunk.exten
        yield Save(call)
        placed = yield Do(
            do.PlaceAgentFirst(
                leg,
                dial,
                trunk,
                seconds,
                call.number,
                call.agent,
                call.session,
                offer=call.offer,
                click=call.click,
            )
        )
        if not placed:
            yield Drop(call)
            yield from self._refused(call, "the PBX refused the call")
            return
        yield from self._note(
            call, "call.ringing", party="agent", agent=call.agent, offer=call.offer
        )

    def _refused(self, call: Call, reason: str) -> Flow:
        """The call could not be placed: the transcript says why, a callback's offer fails."""
        c = self.ctx
        yield from self._note(
            call,
            "call.hangup",
            party="agent",
            agent=call.agent,
            cause="NO_ROUTE_DESTINATION",
            answered=False,
            reason=reason,
        )
        if call.kind is CallKind.CALLBACK:
            yield from c.ask("offer_failed", c.ops.offer_failed(call.offer, "unavailable"))

    def _note(self, call: Call, etype: str, key: str = "", **data: object) -> Flow:
        """A transcript entry of this call: both legs carry the number and the
        click-to-call's id (`call`); `leg` defaults to the agent's."""
        data.setdefault("leg", call.id)
        yield from self.ctx.note(call, etype, key, call=call.click, number=call.number, **data)

    def leg_answered(self, call: Call, fact: f.LegAnswered) -> Flow:
        if fact.leg == call.id:
            yield from self._agent_answered(call)
        elif fact.by == call.id and fact.leg:
            yield from self._customer_answered(call, fact.leg)

    def _agent_answered(self, call: Call) -> Flow:
        c = self.ctx
        if call.state is not CallState.RINGING:
            return
        if call.kind is CallKind.CALLBACK:
            result = yield from c.ask("accept", c.ops.accept(call.offer, call.agent))
            if result is None:
                return  # not told: reconciliation retries
            if not result.ok:
                log.info("callback offer %s no longer valid: hanging up", call.offer)
                yield from self._note(
                    call,
                    "call.hangup",
                    party="agent",
                    agent=call.agent,
                    cause="ORIGINATOR_CANCEL",
                    reason=f"offer {result.reason}",
                )
                yield Drop(call)
                yield Do(do.HangUp(call.id, "ORIGINATOR_CANCEL"))
                return
        call.state = CallState.DIALING
        call.answered_ms = c.now()
        yield Save(call)
        yield from self._note(call, "call.answered", party="agent", agent=call.agent)
        trunk = outbound_destination(c.config, c.pbx_id, call.service or None)
        if not (yield Do(do.DialCustomer(call.id, trunk))):
            yield Do(do.HangUp(call.id))

    def leg_ringing(self, call: Call, fact: f.LegRinging) -> Flow:
        """The customer's phone rings (Asterisk names its leg; FreeSWITCH does not)."""
        if fact.by != call.id or call.customer_leg:
            return
        if fact.leg:
            call.customer_leg = fact.leg
            yield Save(call)
        yield from self._note(
            call,
            "call.ringing",
            party="customer",
            leg=fact.leg or call.id,
            key="" if fact.leg else "customer",
            trunk=fact.trunk or call.trunk,
        )

    def _customer_answered(self, call: Call, leg: str) -> Flow:
        if call.customer_answered_ms:
            return
        call.customer_leg = call.customer_leg or leg
        call.customer_answered_ms = self.ctx.now()
        call.state = CallState.CONNECTED
        yield Save(call)
        yield from self._note(call, "call.answered", leg=leg, party="customer")

    def leg_failed(self, call: Call, fact: f.LegFailed) -> Flow:
        if fact.leg == call.id or (
            not fact.leg and fact.by == call.id and call.state is CallState.RINGING
        ):
            if call.state is CallState.RINGING:
                yield from self._unanswered(call, fact.reason, fact.cause)
        elif fact.by == call.id and fact.leg:  # the customer did not answer
            yield from self._note(
                call,
                "call.hangup",
                leg=fact.leg,
                party="customer",
                cause=fact.cause,
                answered=False,
                reason=fact.reason,
            )

    def bridged(self, call: Call, fact: f.Bridged) -> Flow:
        c = self.ctx
        if fact.channel not in (call.id, call.customer_leg):
            return
        peer = fact.peer if fact.channel == call.id else call.id
        if peer and peer != call.id and not call.customer_answered_ms:
            yield from self._customer_answered(call, peer)
        if call.bridged_ms:
            return
        call.bridged_ms = c.now()
        yield Touch(call)
        yield from self._note(
            call,
            "call.bridged",
            agent=call.agent,
            customer_leg=call.customer_leg,
            wait_s=round((call.bridged_ms - call.started_ms) / 1000, 1),
        )
        yield from recording.start(c, call)

    def gone(self, call: Call, fact: f.ChannelGone) -> Flow:
        c = self.ctx
        if fact.channel == call.customer_leg and fact.channel != call.id:
            if not call.customer_gone:
                yield from self._customer_leg_ended(call, fact)
            return
        if fact.channel != call.id:
            return
        if call.state is CallState.RINGING:
            # Busy: the hang-up (cause 17) may come before the PBX's answer to the ring.
            yield from self._unanswered(call, f.failure_reason(fact.cause), fact.cause)
            return
        reached = bool(call.customer_answered_ms)
        if reached and not call.customer_gone:
            # the two hang-ups come in either order; the call ends with the agent's leg
            call.ended_by = call.ended_by or "agent"
            yield from self._customer_leg_ended(call, fact)
        yield from self._note(
            call,
            "call.hangup",
            party="agent",
            agent=call.agent,
            cause=fact.cause,
            cause_txt=fact.cause_txt,
            duration_s=c.seconds_since(call.answered_ms),
            talk_s=c.seconds_since(call.customer_answered_ms) if reached else None,
            customer_answered=reached,
            ended_by=call.ended_by or "agent",
        )
        yield from recording.ended(c, call)
        yield Drop(call)
        if call.kind is CallKind.CALLBACK:
            why = "customer reached" if reached else "customer not reached"
            yield from c.ask("complete", c.ops.complete(call.request, why))

    def _customer_leg_ended(self, call: Call, fact: f.ChannelGone) -> Flow:
        call.customer_gone = True
        call.ended_by = call.ended_by or "customer"
        yield Touch(call)
        yield from self._note(
            call,
            "call.hangup",
            leg=call.customer_leg or call.id,
            key="customer",
            party="customer",
            cause=fact.cause,
            cause_txt=fact.cause_txt,
            duration_s=self.ctx.seconds_since(call.customer_answered_ms),
            ended_by=call.ended_by,
        )

    def _unanswered(self, call: Call, reason: f.LegFailure, cause: str) -> Flow:
        c = self.ctx
        yield Drop(call)
        yield from self._note(
            call,
            "call.hangup",
            party="agent",
            agent=call.agent,
            cause=cause,
            duration_s=c.seconds_since(call.ringing_ms),
            answered=False,
            reason=reason,
        )
        if call.kind is CallKind.CALLBACK:
            yield from c.ask("offer_failed", c.ops.offer_failed(call.offer, reason))

    def hangup_requested(self, call: Call, fact: f.HangupRequested) -> Flow:
        if not call.ended_by:
            call.ended_by = "customer" if fact.channel == call.customer_leg else "agent"
            yield Touch(call)

    def cancel_ring(self, call: Call, command: cmd.CancelRing) -> Flow:
        if call.offer != command.offer or call.state is not CallState.RINGING:
            return
        yield from self._note(
            call,
            "call.hangup",
            party="agent",
            agent=call.agent,
            cause="ORIGINATOR_CANCEL",
            answered=False,
            reason="the router withdrew the offer",
        )
        yield Drop(call)
        yield Do(do.HangUp(call.id, "ORIGINATOR_CANCEL"))
