"""Customers calling an entry point: parked -> routing request -> agent rung -> connected.

The generated dialplan (docs/call-flow.md) tags the call (`implus_*` variables), answers it,
arms a safety-net `sched_transfer` to the overflow and parks it. From there:

- CHANNEL_PARK: file a `voice` routing request in the caller's session, play hold music
  (`uuid_broadcast`).
- `ring_agent`: ring the agent first (`originate ... &park()` under a UUID chosen here).
  When that leg is answered and parked: `accept(offer)`; if the router agrees,
  `sched_del` (the safety net) and `uuid_bridge` caller and agent. If it does not (the offer
  timed out meanwhile), the agent's leg is hung up and the caller keeps waiting.
- The agent's leg ends before answering (no answer, busy, not registered): `offer_failed`
  with the reason; the caller keeps waiting. `cancel_ring`: hang the agent's leg up.
- The caller hangs up: `cancel` while waiting or ringing (the agent's leg is hung up too),
  `complete` once connected.
- `overflow`: `uuid_transfer` to the entry point's overflow extension. The dialplan's own
  overflow (the safety net fired; CUSTOM implus::overflow): `cancel`.
- `hold`: the connected caller goes back to park (music), the agent's leg is hung up, the
  safety net is armed again; the router routes the new request.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Mapping

from admin_config.targets import NoRoute, overflow_destination
from esl_bridge import commands as cmds
from esl_bridge.channels import ChannelRow
from esl_bridge.dialing import (
    SAFE_VALUE,
    UnsafeValue,
    dial_string,
    failure_reason,
    ring_agent_command,
    ring_seconds,
    transfer_command,
    user_id,
)
from esl_bridge.errors import EslError
from esl_bridge.events import ChannelEvent
from esl_bridge.records import CallRecord, CallState, Direction
from esl_bridge.switchboard import Switchboard
from router.client import new_id
from router.errors import InvalidInput, RouterError
from router.model import OfferState

log = logging.getLogger("esl_bridge.inbound")

MUSIC = re.compile(r"^[^\s'\"]{1,256}$")
DEFAULT_MUSIC = "local_stream://moh"
ENTRY_VARIABLES = (
    "implus_entry",
    "implus_service",
    "implus_user",
    "implus_language",
    "implus_hold_music",
    "implus_max_wait",
)
WAITING_STATES = (CallState.NEW, CallState.WAITING, CallState.RINGING)


class InboundCalls:
    """Handlers for calls that customers place to entry points."""

    def __init__(self, sb: Switchboard) -> None:
        self.sb = sb

    # -- a caller is parked ------------------------------------------------------------

    def parked(self, event: ChannelEvent) -> None:
        """CHANNEL_PARK of a channel the bridge has no record of."""
        variables = {name: event.variable(name) or "" for name in ENTRY_VARIABLES}
        if not variables["implus_entry"]:
            return  # not an implus entry point
        self.take(event.unique_id, variables, event.caller_id_number or "")

    def take(self, call_id: str, variables: Mapping[str, str], number: str) -> None:
        """Start handling a parked entry-point call (from its event, or found at reconnect)."""
        sb = self.sb
        with sb.lock(call_id):
            if sb.calls.get(call_id) is not None:
                return
            max_wait = variables.get("implus_max_wait", "")
            rec = CallRecord(
                call_id=call_id,
                direction=Direction.INBOUND,
                state=CallState.NEW,
                started_ms=sb.clock(),
                request_id=new_id(),
                service=variables.get("implus_service", ""),
                entry=variables.get("implus_entry", ""),
                user=user_id(variables.get("implus_user"), call_id),
                number=number,
                language=variables.get("implus_language", ""),
                hold_music=variables.get("implus_hold_music", ""),
                max_wait=int(max_wait) if max_wait.isdigit() else 0,
            )
            sb.calls.put(rec)
            log.info("call %s from %s at entry %s (%s)", call_id, number, rec.entry, rec.service)
            self.file_request(rec)
            if sb.calls.get(call_id) is not None:  # not sent to the overflow
                self.play_hold(rec)

    def file_request(self, rec: CallRecord) -> bool:
        """Submit the call's routing request (idempotent on the record's request id)."""
        sb = self.sb
        customer = {"language": rec.language, "entry": rec.entry, "number": rec.number}
        try:
            sub = sb.router.submit(
                channel="voice",
                service=rec.service,
                user_id=rec.user,
                customer={k: v for k, v in customer.items() if v},
                pbx=sb.pbx_id,
                call_id=rec.call_id,
                request_id=rec.request_id,
            )
        except InvalidInput as e:
            log.error("call %s cannot be routed (%s): sending it to the overflow", rec.call_id, e)
            self.send_to_overflow(rec, "router refused the request")
            return False
        except RouterError as e:
            log.error("call %s: routing request not filed yet (%s); retrying later", rec.call_id, e)
            return False
        rec.session_id = sub.session_id
        rec.state = CallState.WAITING
        sb.calls.put(rec)
        sb.note(
            rec,
            "call.answered",
            leg=rec.call_id,
            party="customer",
            entry=rec.entry,
            number=rec.number,
        )
        self._cancel_older_requests(rec)
        return True

    def _cancel_older_requests(self, rec: CallRecord) -> None:
        """Requests of this call filed before the current one (by a bridge that lost its
        record) must not wait on in the queues."""
        try:
            older = [
                r
                for r in self.sb.router.session_requests(rec.session_id)
                if r.call_id == rec.call_id
                and r.id != rec.request_id
                and r.state.value in ("queued", "offered")
            ]
        except RouterError as e:
            log.warning("call %s: cannot look for older requests: %s", rec.call_id, e)
            return
        for r in older:
            log.info("call %s: cancelling request %s filed before", rec.call_id, r.id)
            self.sb.cancel(r.id, "superseded")

    def play_hold(self, rec: CallRecord) -> None:
        """Music while the caller waits. A caller already gone is not concluded from the
        reply: its CHANNEL_HANGUP_COMPLETE (with the real cause) follows, or the periodic
        reconciliation finds it gone."""
        music = rec.hold_music if MUSIC.match(rec.hold_music) else DEFAULT_MUSIC
        self.sb.background(f"uuid_broadcast {rec.call_id} {music} aleg")

    def parked_again(self, rec: CallRecord) -> None:
        """The caller is back in park: after `hold`, or its agent left the bridge."""
        sb = self.sb
        with sb.lock(rec.call_id):
            rec = sb.calls.get(rec.call_id) or rec
            if rec.state is CallState.CONNECTED:
                # FreeSWITCH hangs the caller up when the agent leaves unless the admin set
                # park_after_bridge; then the conversation is over all the same.
                log.info("call %s: agent left, caller parked again: ending the call", rec.call_id)
                self.sb.complete(rec, "agent hung up")
                sb.kill(rec.call_id)
                return
            self.play_hold(rec)

    # -- ringing the agent ---------------------------------------------------------------

    def ring(self, cmd: cmds.RingAgent) -> None:
        sb = self.sb
        rec = sb.calls.get(cmd.call_id)
        if rec is None or rec.direction is not Direction.INBOUND:
            self._unheld(cmd)
            return
        with sb.lock(rec.call_id):
            rec = sb.calls.get(cmd.call_id)
            if rec is None:
                self._unheld(cmd)
                return
            if rec.state is CallState.RINGING and rec.offer == cmd.offer:
                return  # a repeated command
            if cmd.request != rec.request_id:
                # An older request of this call (lost and filed again): it must not keep
                # being offered to agents.
                log.info(
                    "call %s: request %s is superseded by %s; cancelling it",
                    rec.call_id,
                    cmd.request,
                    rec.request_id,
                )
                self.sb.cancel(cmd.request, "superseded")
                return
            offer = sb.router.offer(cmd.offer)
            if offer is None or offer.state is not OfferState.PENDING:
                log.info("offer %s is no longer pending; not ringing %s", cmd.offer, cmd.agent)
                return
            if rec.state is CallState.RINGING:
                sb.kill(rec.agent_leg, "ORIGINATOR_CANCEL")
            elif rec.state is not CallState.WAITING:
                log.warning("ring_agent for call %s in state %s", rec.call_id, rec.state)
                self.sb.offer_failed(cmd.offer, "unavailable")
                return
            try:
                dial = dial_string(sb.config, sb.pbx_id, cmd.agent, cmd.endpoint, cmd.agent_pbx)
            except NoRoute as e:
                log.error("cannot ring %s for call %s: %s", cmd.agent, rec.call_id, e)
                self.sb.offer_failed(cmd.offer, "unavailable")
                return
            leg = str(uuid.uuid4())
            rec.state = CallState.RINGING
            rec.offer, rec.agent, rec.agent_leg = cmd.offer, cmd.agent, leg
            rec.ringing_ms = sb.clock()
            sb.calls.put(rec)
            variables = {
                "implus_offer": cmd.offer,
                "implus_caller": rec.call_id,
                "implus_request": cmd.request,
            }
            if SAFE_VALUE.match(rec.number):
                variables["origination_caller_id_number"] = rec.number
            try:
                sb.esl.bgapi(
                    ring_agent_command(dial, leg, cmd.agent, variables, ring_seconds(cmd.timeout))
                )
            except (EslError, UnsafeValue) as e:
                log.error("could not ring %s for call %s: %s", cmd.agent, rec.call_id, e)
                self.ring_failed(rec.call_id, leg, "DESTINATION_OUT_OF_ORDER")
                return
            sb.note(rec, "call.ringing", leg=leg, party="agent", agent=cmd.agent, offer=cmd.offer)

    def ring_failed(self, call_id: str, leg: str, cause: str | None) -> None:
        """The agent's leg ended (or never started) without being answered."""
        sb = self.sb
        with sb.lock(call_id):
            rec = sb.calls.get(call_id)
            if rec is None or rec.agent_leg != leg or rec.state is not CallState.RINGING:
                return
            offer, agent = rec.offer, rec.agent
            rec.state = CallState.WAITING
            rec.offer = rec.agent_leg = ""
            sb.calls.put(rec)
            reason = failure_reason(cause)
            log.info("call %s: %s did not answer (%s: %s)", call_id, agent, cause, reason)
            sb.note_hangup(
                rec,
                leg,
                "agent",
                cause,
                agent=agent,
                duration_s=sb.seconds_since(rec.ringing_ms),
                answered=False,
            )
            self.sb.offer_failed(offer, reason)

    def agent_answered(self, call_id: str, leg: str) -> None:
        """The agent's leg is answered and parked: connect it to the caller."""
        sb = self.sb
        with sb.lock(call_id):
            rec = sb.calls.get(call_id)
            if rec is None or rec.agent_leg != leg or rec.state is not CallState.RINGING:
                return
            try:
                result = sb.router.accept(rec.offer, rec.agent)
            except RouterError as e:
                log.error("call %s: cannot accept offer %s (%s)", call_id, rec.offer, e)
                return  # the agent's phone is answered and parked; reconciliation retries
            if not result.ok:
                log.info(
                    "call %s: offer %s refused (%s); hanging the agent up",
                    call_id,
                    rec.offer,
                    result.reason,
                )
                self._withdraw(rec, f"offer {result.reason}")
                return
            self.connect(rec, leg)

    def connect(self, rec: CallRecord, leg: str) -> None:
        """Bridge the caller with the agent's answered leg (the offer is accepted)."""
        sb = self.sb
        rec.state = CallState.CONNECTED
        rec.connected_ms = sb.clock()
        sb.calls.put(rec)
        sb.note(rec, "call.answered", leg=leg, party="agent", agent=rec.agent)
        sb.api_ok(f"sched_del {rec.call_id}")
        if sb.background_ok(f"uuid_bridge {rec.call_id} {leg}"):
            log.info("call %s connected to %s", rec.call_id, rec.agent)
            self.note_bridged(rec)
            return
        if not sb.exists(rec.call_id):
            sb.kill(leg)  # the caller left while the agent answered; their hang-up ends it
        else:
            # The caller is still here but the agent's leg is not: end this contact and
            # route the caller again (same session).
            log.warning(
                "call %s: could not bridge %s; routing the caller again", rec.call_id, rec.agent
            )
            sb.kill(leg)
            self.sb.complete(rec, "bridge failed")
            self.route_again(rec)

    def note_bridged(self, rec: CallRecord) -> None:
        """`call.bridged` in the transcript (once per agent leg: a repeat is not written)."""
        self.sb.note(
            rec,
            "call.bridged",
            key=rec.agent_leg,
            agent=rec.agent,
            agent_leg=rec.agent_leg,
            wait_s=round((rec.connected_ms - rec.started_ms) / 1000, 1),
        )

    def route_again(self, rec: CallRecord) -> None:
        """File a new routing request for a caller still here (waiting on hold again)."""
        sb = self.sb
        if rec.state in WAITING_STATES and rec.request_id:
            self.sb.cancel(rec.request_id, "superseded")
        rec.state = CallState.NEW
        rec.request_id = new_id()
        rec.offer = rec.agent = rec.agent_leg = ""
        rec.connected_ms = 0
        sb.calls.put(rec)
        self.arm_safety_net(rec)
        self.file_request(rec)
        if sb.calls.get(rec.call_id) is not None:
            self.play_hold(rec)

    # -- ending ------------------------------------------------------------------------------

    def leg_ended(self, rec: CallRecord, uuid_: str, cause: str | None) -> None:
        """CHANNEL_HANGUP_COMPLETE of one of the call's channels."""
        sb = self.sb
        if uuid_ == rec.call_id:
            self.caller_gone(rec.call_id, cause)
            return
        with sb.lock(rec.call_id):
            rec = sb.calls.get(rec.call_id) or rec
            if uuid_ != rec.agent_leg:
                return
            if rec.state is CallState.RINGING:
                self.ring_failed(rec.call_id, uuid_, cause)
            elif rec.state is CallState.CONNECTED:
                rec.ended_by = rec.ended_by or "agent"
                sb.calls.put(rec)
                sb.note_hangup(
                    rec,
                    uuid_,
                    "agent",
                    cause,
                    agent=rec.agent,
                    duration_s=sb.seconds_since(rec.connected_ms),
                )

    def caller_gone(self, call_id: str, cause: str | None) -> None:
        """The customer's channel is gone: abandon (waiting) or end (connected) the contact."""
        sb = self.sb
        with sb.lock(call_id):
            rec = sb.calls.get(call_id)
            if rec is None:
                return
            talk = sb.seconds_since(rec.connected_ms) if rec.connected_ms else None
            waiting = rec.state in WAITING_STATES
            if not waiting:
                rec.ended_by = rec.ended_by or "customer"
            # The transcript first, so whoever sees the router's change finds the hang-up.
            sb.note_hangup(
                rec,
                call_id,
                "customer",
                cause,
                duration_s=sb.seconds_since(rec.started_ms),
                talk_s=talk,
                ended_by=rec.ended_by or "customer",
            )
            if waiting:
                if rec.state is CallState.RINGING:
                    sb.kill(rec.agent_leg, "ORIGINATOR_CANCEL")
                if rec.request_id:
                    sb.cancel(rec.request_id, "abandoned")
                log.info(
                    "call %s abandoned after %.0f s (%s)",
                    call_id,
                    sb.seconds_since(rec.started_ms),
                    cause,
                )
            else:
                # Bridged, FreeSWITCH hangs the agent up too; accepted but not yet bridged
                # (the caller left in between), the agent would stay in a silent call.
                sb.kill(rec.agent_leg)
                sb.complete(rec, f"hangup by {rec.ended_by}")
                log.info("call %s ended (%s), talked %.0f s", call_id, cause, talk or 0)
            sb.forget(call_id)

    # -- router commands on a waiting or connected caller ------------------------------------

    def cancel_ring(self, rec: CallRecord, cmd: cmds.CancelRing) -> None:
        sb = self.sb
        with sb.lock(rec.call_id):
            rec = sb.calls.get(rec.call_id) or rec
            if rec.state is not CallState.RINGING or rec.offer != cmd.offer:
                return
            self._withdraw(rec, "the router withdrew the offer")

    def _withdraw(self, rec: CallRecord, reason: str) -> None:
        """Hang the agent's leg of a ringing (or just answered) offer up; the caller waits."""
        sb = self.sb
        leg = rec.agent_leg
        rec.state = CallState.WAITING
        rec.offer = rec.agent_leg = ""
        sb.calls.put(rec)
        sb.kill(leg, "ORIGINATOR_CANCEL")
        sb.note_hangup(rec, leg, "agent", "ORIGINATOR_CANCEL", agent=rec.agent, reason=reason)

    def overflow(self, cmd: cmds.Overflow) -> None:
        sb = self.sb
        rec = sb.calls.get(cmd.call_id)
        if rec is None:
            log.warning("overflow for call %s, which this bridge does not hold", cmd.call_id)
            return
        with sb.lock(rec.call_id):
            rec = sb.calls.get(cmd.call_id)
            if rec is None or rec.state not in WAITING_STATES:
                return
            if rec.request_id and rec.request_id != cmd.request:
                log.info(
                    "overflow for request %s, but call %s waits for %s: ignored",
                    cmd.request,
                    rec.call_id,
                    rec.request_id,
                )
                return
            self.send_to_overflow(rec, cmd.destination or "overflow", by="router")

    def send_to_overflow(self, rec: CallRecord, destination: str, by: str = "bridge") -> None:
        sb = self.sb
        if rec.state is CallState.RINGING:
            sb.kill(rec.agent_leg, "ORIGINATOR_CANCEL")
        try:
            target = overflow_destination(sb.config, rec.entry)
        except KeyError:
            log.error(
                "call %s: entry point %r is not in the admin config; the dialplan's own "
                "overflow will take the caller",
                rec.call_id,
                rec.entry,
            )
            return
        # Forgotten first: if the bridge stops right here, the caller is still parked and the
        # next bridge takes it over (and routes it again) rather than re-routing a caller who
        # already left for the overflow.
        sb.forget(rec.call_id)
        if not sb.background_ok(transfer_command(rec.call_id, target)):
            log.warning(
                "call %s: not sent to the overflow; it will be taken over again", rec.call_id
            )
            return
        log.info("call %s sent to the overflow of %s (%s)", rec.call_id, rec.entry, destination)
        sb.note(
            rec,
            "call.transferred",
            key=rec.request_id,
            to="overflow",
            destination=destination,
            by=by,
        )

    def dialplan_overflow(self, call_id: str, destination: str | None) -> None:
        """The dialplan overflowed the caller on its own (CUSTOM implus::overflow)."""
        sb = self.sb
        with sb.lock(call_id):
            rec = sb.calls.get(call_id)
            if rec is None or rec.direction is not Direction.INBOUND:
                return
            if rec.state is CallState.RINGING:
                sb.kill(rec.agent_leg, "ORIGINATOR_CANCEL")
            if rec.state in WAITING_STATES and rec.request_id:
                self.sb.cancel(rec.request_id, "overflow")
            log.info("call %s overflowed by the dialplan (%s)", call_id, destination)
            sb.note(
                rec,
                "call.transferred",
                key=rec.request_id,
                to="overflow",
                destination=destination,
                by="dialplan",
            )
            sb.forget(call_id)

    def hold(self, cmd: cmds.Hold) -> None:
        sb = self.sb
        rec = sb.calls.get(cmd.call_id)
        if rec is None:
            log.warning("hold for call %s, which this bridge does not hold", cmd.call_id)
            return
        with sb.lock(rec.call_id):
            rec = sb.calls.get(cmd.call_id)
            if rec is None or rec.state is not CallState.CONNECTED:
                return
            old_leg, old_agent = rec.agent_leg, rec.agent
            rec.state = CallState.WAITING
            rec.request_id = cmd.request
            rec.offer = rec.agent = rec.agent_leg = ""
            rec.connected_ms = 0
            sb.calls.put(rec)
            sb.background_ok(f"uuid_transfer {rec.call_id} park inline")
            sb.kill(old_leg)
            self.arm_safety_net(rec)
            sb.note(
                rec, "call.transferred", key=cmd.request, to="hold", agent=old_agent, by="router"
            )

    def arm_safety_net(self, rec: CallRecord) -> None:
        """`sched_transfer` to the overflow again, as the entry dialplan did."""
        sb = self.sb
        try:
            target = overflow_destination(sb.config, rec.entry)
        except KeyError:
            return
        wait = (rec.max_wait or sb.config.entry_point(rec.entry).max_wait) + sb.config.hold_margin
        sb.api_ok(f"sched_del {rec.call_id}")
        sb.api_ok(f"sched_transfer +{wait} {rec.call_id} {target.freeswitch()}")

    # -- after a reconnection -------------------------------------------------------------

    def reconcile(self, rec: CallRecord, live: Mapping[str, ChannelRow]) -> None:
        """Repair one call from what FreeSWITCH lists now (events may have been missed)."""
        sb = self.sb
        with sb.lock(rec.call_id):
            rec = sb.calls.get(rec.call_id) or rec
            if rec.call_id not in live:
                self.caller_gone(rec.call_id, "UNKNOWN")
                return
            if rec.state is CallState.NEW:
                self.file_request(rec)
            elif rec.state is CallState.WAITING:
                self._check_request(rec)
            elif rec.state is CallState.RINGING:
                leg = live.get(rec.agent_leg)
                if leg is None:
                    self.ring_failed(rec.call_id, rec.agent_leg, "UNKNOWN")
                elif answered_and_parked(leg):
                    self.agent_answered(rec.call_id, rec.agent_leg)
            elif rec.state is CallState.CONNECTED and rec.agent_leg not in live:
                log.info("call %s: the agent's leg is gone; ending the call", rec.call_id)
                self.sb.complete(rec, "agent hung up")
                sb.kill(rec.call_id)
            elif rec.state is CallState.CONNECTED:
                self.note_bridged(rec)  # again: a bridge that crashed may not have written it

    def _check_request(self, rec: CallRecord) -> None:
        """A waiting caller's request must still be waiting in the router; else route again."""
        try:
            request = self.sb.router.request(rec.request_id)
        except RouterError as e:
            log.error("call %s: cannot check request %s: %s", rec.call_id, rec.request_id, e)
            return
        if request is None or request.state.is_final:
            log.info(
                "call %s waits but the router has no live request for it: filing again", rec.call_id
            )
            self.route_again(rec)
        elif request.state.value == "accepted":
            log.info(
                "call %s: request %s accepted but nobody is connected: routing again",
                rec.call_id,
                rec.request_id,
            )
            self.sb.complete(rec, "agent not connected")
            self.route_again(rec)

    def _unheld(self, cmd: cmds.RingAgent) -> None:
        """ring_agent for a call without a record: gone -> its request ends; still up (not
        taken over yet) -> the offer fails and the router tries again."""
        if self.sb.exists(cmd.call_id) is False:
            log.info("ring_agent for call %s, which is gone: cancelling its request", cmd.call_id)
            self.sb.cancel(cmd.request, "abandoned")
        else:
            log.warning("ring_agent for call %s, which this bridge does not hold", cmd.call_id)
            self.sb.offer_failed(cmd.offer, "unavailable")


def answered_and_parked(row: ChannelRow) -> bool:
    return row.call_state == "ACTIVE" and row.application == "park"
