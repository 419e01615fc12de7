"""Agent-first outbound calls: `click_to_call` (the agent's desktop) and `callback` (a routed
"call me" request).

1. `originate {origination_uuid=U,implus_dial=<number>,...}<agent's dial string> &park()` -
   the agent's phone rings first.
2. The agent answers (their leg parks): for a callback `accept(offer)` first (if the router
   refuses, the agent's leg is hung up); then `uuid_transfer U <trunk> XML implus-outbound`,
   where the generated dialplan checks the number, raises CUSTOM implus::outbound and
   bridges the customer through the trunk's gateway (docs/call-flow.md).
3. CHANNEL_BRIDGE on U: the customer answered. The agent's leg ending ends the call (a
   callback's request is completed; one whose agent never answered is `offer_failed`).

Each step goes into the session transcript as a call leg of the session.
"""

from __future__ import annotations

import logging
import uuid

from admin_config.targets import NoRoute, outbound_destination
from esl_bridge import commands as cmds
from esl_bridge.channels import ChannelRow
from esl_bridge.dialing import (
    NUMBER,
    UnsafeValue,
    dial_string,
    failure_reason,
    originate,
)
from esl_bridge.errors import EslError
from esl_bridge.events import ChannelEvent
from esl_bridge.inbound import answered_and_parked
from esl_bridge.records import CallRecord, CallState, Direction
from esl_bridge.switchboard import Switchboard
from router.errors import RouterError

log = logging.getLogger("esl_bridge.outbound")


class OutboundCalls:
    """Handlers for calls an agent places to a customer."""

    def __init__(self, sb: Switchboard) -> None:
        self.sb = sb

    def start(self, cmd: cmds.Callback | cmds.ClickToCall) -> None:
        sb = self.sb
        is_callback = isinstance(cmd, cmds.Callback)
        leg = str(uuid.uuid4())
        rec = CallRecord(
            call_id=leg,
            direction=Direction.OUTBOUND,
            state=CallState.RINGING,
            started_ms=sb.clock(),
            request_id=cmd.request if isinstance(cmd, cmds.Callback) else "",
            session_id=cmd.session,
            number=cmd.number,
            offer=cmd.offer if isinstance(cmd, cmds.Callback) else "",
            agent=cmd.agent,
            agent_leg=leg,
            ringing_ms=sb.clock(),
            kind=cmd.type,
            command=cmd.call if isinstance(cmd, cmds.ClickToCall) else "",
        )
        try:
            if not NUMBER.match(cmd.number):
                raise NoRoute(f"{cmd.number!r} is not a phone number")
            session = sb.router.session(cmd.session)
            if session is None:
                raise NoRoute(f"session {cmd.session} does not exist")
            rec.service = session.service
            rec.user = session.user_id
            rec.trunk = outbound_destination(sb.config, sb.pbx_id, session.service).exten
            dial = dial_string(sb.config, sb.pbx_id, cmd.agent, cmd.endpoint, sb.pbx_id)
        except (NoRoute, KeyError, RouterError) as e:
            log.error("%s to %s for agent %s not placed: %s", cmd.type, cmd.number, cmd.agent, e)
            sb.note_hangup(
                rec,
                leg,
                "agent",
                "NO_ROUTE_DESTINATION",
                agent=cmd.agent,
                reason=str(e),
                call=rec.command,
            )
            if is_callback:
                self.sb.offer_failed(rec.offer, "unavailable")
            return
        timeout = cmd.timeout if isinstance(cmd, cmds.Callback) else sb.settings.ring_timeout
        variables: dict[str, str | int] = {
            "origination_uuid": leg,
            "originate_timeout": max(1, timeout),
            "implus_agent": cmd.agent,
            "implus_dial": cmd.number,
            "implus_session": cmd.session,
            "origination_caller_id_number": cmd.number,
        }
        if rec.offer:
            variables["implus_offer"] = rec.offer
        with sb.lock(leg):
            sb.calls.put(rec)
            try:
                sb.esl.bgapi(originate(dial, variables))
            except (EslError, UnsafeValue) as e:
                log.error("%s for agent %s not placed: %s", cmd.type, cmd.agent, e)
                self.agent_leg_ended(rec, "DESTINATION_OUT_OF_ORDER")
                return
            log.info("%s %s: ringing agent %s first", cmd.type, leg, cmd.agent)
            sb.note(
                rec,
                "call.ringing",
                leg=leg,
                party="agent",
                agent=cmd.agent,
                number=cmd.number,
                call=rec.command,
                offer=rec.offer,
            )

    def agent_answered(self, call_id: str) -> None:
        """The agent's leg is answered and parked: dial the customer through the trunk."""
        sb = self.sb
        with sb.lock(call_id):
            rec = sb.calls.get(call_id)
            if rec is None or rec.state is not CallState.RINGING:
                return
            if rec.kind == "callback":
                try:
                    result = sb.router.accept(rec.offer, rec.agent)
                except RouterError as e:
                    log.error("callback %s: cannot accept offer %s (%s)", call_id, rec.offer, e)
                    return
                if not result.ok:
                    log.info("callback %s: offer refused (%s)", call_id, result.reason)
                    sb.note_hangup(
                        rec,
                        call_id,
                        "agent",
                        "ORIGINATOR_CANCEL",
                        agent=rec.agent,
                        reason=f"offer {result.reason}",
                    )
                    sb.forget(call_id)
                    sb.kill(call_id, "ORIGINATOR_CANCEL")
                    return
            rec.state = CallState.DIALING
            sb.calls.put(rec)
            sb.note(rec, "call.answered", leg=call_id, party="agent", agent=rec.agent)
            target = f"{rec.trunk} XML implus-outbound"
            if not sb.background_ok(f"uuid_transfer {call_id} {target}"):
                sb.kill(call_id)

    def dialing(self, call_id: str, number: str | None, trunk: str | None) -> None:
        """The dialplan is calling the customer (CUSTOM implus::outbound)."""
        rec = self.sb.calls.get(call_id)
        if rec is not None and rec.direction is Direction.OUTBOUND:
            self.sb.note(
                rec,
                "call.ringing",
                leg=call_id,
                key="customer",
                party="customer",
                number=number or rec.number,
                trunk=trunk or rec.trunk,
            )

    def bridged(self, rec: CallRecord, event: ChannelEvent) -> None:
        """CHANNEL_BRIDGE of the agent's leg: the customer answered."""
        sb = self.sb
        a, b = event.bridge_a_unique_id, event.bridge_b_unique_id
        customer = b if a == rec.call_id else a
        with sb.lock(rec.call_id):
            rec = sb.calls.get(rec.call_id) or rec
            if rec.state is CallState.CONNECTED or not customer:
                return
            rec.customer_leg = customer
            rec.state = CallState.CONNECTED
            rec.connected_ms = sb.clock()
            sb.calls.put(rec)
            sb.note(rec, "call.answered", leg=customer, party="customer", number=rec.number)
            sb.note(rec, "call.bridged", agent=rec.agent, customer_leg=customer, number=rec.number)

    def leg_ended(self, rec: CallRecord, uuid_: str, cause: str | None) -> None:
        if uuid_ == rec.call_id:
            self.agent_leg_ended(rec, cause)
        elif uuid_ == rec.customer_leg:
            sb = self.sb
            with sb.lock(rec.call_id):
                rec.ended_by = rec.ended_by or "customer"
                sb.calls.put(rec)
                sb.note_hangup(
                    rec,
                    uuid_,
                    "customer",
                    cause,
                    duration_s=sb.seconds_since(rec.connected_ms),
                )

    def agent_leg_ended(self, rec: CallRecord, cause: str | None) -> None:
        """The agent's leg is gone, so is the call."""
        sb = self.sb
        with sb.lock(rec.call_id):
            rec = sb.calls.get(rec.call_id) or rec
            # The transcript first, so whoever sees the router's change finds the hang-up.
            if rec.state is CallState.RINGING:
                sb.note_hangup(
                    rec,
                    rec.call_id,
                    "agent",
                    cause,
                    agent=rec.agent,
                    duration_s=sb.seconds_since(rec.ringing_ms),
                    answered=False,
                )
                if rec.kind == "callback":
                    sb.offer_failed(rec.offer, failure_reason(cause))
            else:
                reached = rec.state is CallState.CONNECTED
                sb.note_hangup(
                    rec,
                    rec.call_id,
                    "agent",
                    cause,
                    agent=rec.agent,
                    duration_s=sb.seconds_since(rec.started_ms),
                    talk_s=sb.seconds_since(rec.connected_ms) if reached else None,
                    customer_answered=reached,
                    ended_by=rec.ended_by or "agent",
                )
                if rec.kind == "callback":
                    sb.complete(rec, "customer reached" if reached else "customer not reached")
            log.info("%s %s ended (%s)", rec.kind, rec.call_id, cause)
            sb.forget(rec.call_id)

    def cancel_ring(self, rec: CallRecord, cmd: cmds.CancelRing) -> None:
        sb = self.sb
        with sb.lock(rec.call_id):
            rec = sb.calls.get(rec.call_id) or rec
            if rec.state is not CallState.RINGING or rec.offer != cmd.offer:
                return
            sb.note_hangup(
                rec,
                rec.call_id,
                "agent",
                "ORIGINATOR_CANCEL",
                agent=rec.agent,
                reason="the router withdrew the offer",
            )
            sb.forget(rec.call_id)
            sb.kill(rec.call_id, "ORIGINATOR_CANCEL")

    def reconcile(self, rec: CallRecord, live: dict[str, ChannelRow]) -> None:
        row = live.get(rec.call_id)
        if row is None:
            self.agent_leg_ended(rec, "UNKNOWN")
        elif rec.state is CallState.RINGING and answered_and_parked(row):
            self.agent_answered(rec.call_id)
