"""Inbound calls, the agent's part: ringing an agent for a waiting caller, the answer
(accepted -> connected; refused -> the caller waits on), no answer / busy / unreachable
(`offer_failed`, the router offers the next agent) and a ring the router cancels.

Asterisk rings from the caller's own Dial and learns the agent leg's id from it
(`LegRinging`); FreeSWITCH places the leg under an id the bridge chose. Either way the leg
is in the call's record before the PBX is asked, so its events find the call.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from admin_config.errors import NoRoute
from admin_config.targets import dial_agent
from router.errors import RouterError
from router.model import OfferState

from . import commands as cmd
from . import facts as f
from . import intents as do
from . import policy, recording
from .context import FlowContext
from .records import WAITING_STATES, Call, CallState
from .steps import Ask, Do, Flow, Save, Touch

if TYPE_CHECKING:
    from .inbound import InboundFlow

log = logging.getLogger("implus.callflow")


class Ringing:
    def __init__(self, ctx: FlowContext, inbound: InboundFlow) -> None:
        self.ctx = ctx
        self.inbound = inbound

    # --- ringing an agent ------------------------------------------------------------

    def ring_agent(self, command: cmd.RingAgent) -> Flow:
        c = self.ctx
        call = c.book.get(command.call_id)
        if call is None or not call.inbound:
            yield from self._not_held(command)
            return
        if call.offer == command.offer:
            return  # a repeated command: this agent is already being rung (or was)
        if command.request != call.request:
            log.info(
                "call %s: request %s is superseded by %s; cancelling it",
                call.id,
                command.request,
                call.request,
            )
            yield from c.ask("cancel", c.ops.cancel(command.request, "superseded"))
            return
        if call.state not in WAITING_STATES:
            log.info(
                "ring_agent for %s ignored: call %s is %s", command.request, call.id, call.state
            )
            return
        now = c.now()
        deadline = command.deadline
        if not policy.is_fresh(command.at, now):  # read again after a restart or a retry
            offer = yield from c.ask("offer", c.ops.offer(command.offer))
            if offer is None or offer.state is not OfferState.PENDING:
                return  # stale: the router already moved on
            deadline = offer.deadline
        seconds = policy.ring_seconds(deadline, command.at, command.timeout, c.now())
        if seconds <= 0:
            return  # the offer is about to time out; the router moves on by itself
        try:
            dial = dial_agent(
                c.config, c.pbx_id, command.agent, command.endpoint, command.agent_pbx
            )
        except (NoRoute, KeyError) as e:
            log.error(
                "cannot ring %s for call %s: %s (check the admin config)", command.agent, call.id, e
            )
            yield from c.ask("offer_failed", c.ops.offer_failed(command.offer, "unavailable"))
            return
        if call.state is CallState.RINGING and call.leg:
            yield Do(do.DropAgentLeg(call.id, call.leg, call.exten))  # another agent still rings
        call.state = CallState.RINGING
        call.offer, call.agent = command.offer, command.agent
        call.leg = c.leg_id(command.offer) if c.chooses_agent_legs else ""
        call.ringing_ms = c.now()
        yield Save(call)  # before the PBX acts: its events must find the call
        result = yield Do(
            do.RingAgent(
                call.id,
                call.leg,
                dial,
                seconds,
                command.agent,
                command.offer,
                command.request,
                call.number,
            )
        )
        if result == "caller_gone":
            return  # its hang-up cancels the request
        if result == "failed":
            yield from self.ring_ended(call, call.leg, "unavailable", "DESTINATION_OUT_OF_ORDER")
            return
        if call.leg:
            yield from self._note_ringing(call)

    def _note_ringing(self, call: Call) -> Flow:
        yield from self.ctx.note(
            call,
            "call.ringing",
            call.offer,
            leg=call.leg,
            party="agent",
            agent=call.agent,
            offer=call.offer,
        )

    def _not_held(self, command: cmd.RingAgent) -> Flow:
        """A ring for a call without a record: gone -> its request ends; still up (not
        taken over yet) -> the offer fails and the router tries again."""
        c = self.ctx
        if (yield Do(do.ChannelExists(command.call_id))) is False:
            log.info(
                "ring_agent for call %s, which is gone: cancelling its request", command.call_id
            )
            yield from c.ask("cancel", c.ops.cancel(command.request, "abandoned"))
        else:
            log.warning("ring_agent for call %s, which this bridge does not hold", command.call_id)
            yield from c.ask("offer_failed", c.ops.offer_failed(command.offer, "unavailable"))

    def leg_ringing(self, call: Call, fact: f.LegRinging) -> Flow:
        """The caller's Dial rings the agent (Asterisk): remember the agent's leg."""
        if fact.by != call.id or call.state is not CallState.RINGING or call.leg:
            return
        call.leg = fact.leg
        yield Touch(call)
        yield from self._note_ringing(call)

    def leg_answered(self, call: Call, fact: f.LegAnswered) -> Flow:
        c = self.ctx
        if call.state is not CallState.RINGING or not call.leg or fact.leg != call.leg:
            return
        call.state = CallState.CONNECTED  # saved with the accept, in one round trip
        call.answered_ms = c.now()
        yield Save(call)
        try:
            result = yield Ask(c.ops.accept(call.offer, call.agent), "accept")
        except RouterError as e:
            log.error(
                "call %s: cannot accept offer %s (%s); reconciliation retries",
                call.id,
                call.offer,
                e,
            )
            call.state, call.answered_ms = CallState.RINGING, 0
            yield Touch(call)
            return
        if not result.ok:
            # The offer ended meanwhile (rescinded, timed out): this agent must not keep
            # the caller, who waits on.
            log.info("offer %s is %s: the caller goes back on hold", call.offer, result.reason)
            agent, offer, leg = call.agent, call.offer, call.leg
            call.clear_agent()
            yield Save(call)
            yield Do(do.DropAgentLeg(call.id, leg, call.exten))
            yield from c.note(
                call,
                "call.hangup",
                offer,
                leg=leg,
                party="agent",
                agent=agent,
                cause="ORIGINATOR_CANCEL",
                answered=False,
                reason=f"offer {result.reason}",
            )
            return
        yield from c.note(
            call, "call.answered", call.offer, leg=call.leg, party="agent", agent=call.agent
        )
        outcome = yield Do(do.Connect(call.id, call.leg))
        if outcome == "caller_gone":
            yield Do(do.HangUp(call.leg))  # the caller's hang-up ends the contact
        elif outcome == "agent_gone":
            log.warning(
                "call %s: could not connect %s; routing the caller again", call.id, call.agent
            )
            yield from c.ask("complete", c.ops.complete(call.request, "bridge failed"))
            yield from self.inbound.route_again(call, rehold=True)

    def leg_failed(self, call: Call, fact: f.LegFailed) -> Flow:
        """The agent's phone did not answer (or no channel was ever made for it)."""
        if call.state is not CallState.RINGING:
            return
        if fact.leg and fact.leg != call.leg:
            return  # the end of an earlier ring (cancelled before this one began)
        if not fact.leg and fact.by != call.id:
            return
        yield from self.ring_ended(call, call.leg, fact.reason, fact.cause)

    def ring_ended(self, call: Call, leg: str, reason: f.LegFailure, cause: str) -> Flow:
        """`offer_failed` (no_answer / busy / unavailable) and the router offers the next
        agent; the caller waits on."""
        c = self.ctx
        offer, agent, ringing_ms = call.offer, call.agent, call.ringing_ms
        call.clear_agent()  # the next ring_agent finds the call waiting
        yield Save(call)
        yield from c.ask("offer_failed", c.ops.offer_failed(offer, reason))
        yield from c.note(
            call,
            "call.hangup",
            offer,
            leg=leg,
            party="agent",
            agent=agent,
            cause=cause,
            duration_s=c.seconds_since(ringing_ms),
            answered=False,
            reason=reason,
        )

    def bridged(self, call: Call, fact: f.Bridged, seen_late: bool = False) -> Flow:
        """Caller and agent are in one bridge. `seen_late`: found by reconciliation, after
        a restart - timed from the agent's answer, the best moment still known."""
        c = self.ctx
        if fact.channel != call.id or call.state is not CallState.CONNECTED or call.bridged_ms:
            return
        call.bridged_ms = (call.answered_ms if seen_late else 0) or c.now()
        yield Touch(call)
        yield from c.note(
            call,
            "call.bridged",
            call.offer,
            agent=call.agent,
            agent_leg=call.leg,
            wait_s=round((call.bridged_ms - call.started_ms) / 1000, 1),
        )
        yield from recording.start(c, call)

    def cancel_ring(self, call: Call, command: cmd.CancelRing) -> Flow:
        c = self.ctx
        if call.offer != command.offer or call.state is not CallState.RINGING:
            return
        leg, ringing_ms = call.leg, call.ringing_ms
        call.clear_agent()
        yield Save(call)
        yield Do(do.DropAgentLeg(call.id, leg, call.exten))
        yield from c.note(
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
