"""Inbound calls: a caller at an entry point, routed by the router, connected to an agent.

The life of a call, the same on both PBXs (docs/call-flow.md has the dialplan side):

1. `CallerArrived` -> the caller holds; its `voice` (or `voip`) routing request is filed in
   the caller's session (the request id is in the record first, so filing twice is
   harmless).
2. `ring_agent` -> ring the agent (`RingAgent` intent) for the offer's time less the margin.
3. The agent answers (`LegAnswered`) -> `accept`; accepted -> `Connect`; refused (the
   offer ended meanwhile) -> the agent leg is dropped and the caller keeps waiting. No
   answer / busy / unreachable (`LegFailed`, or the ringing leg gone) -> `offer_failed`
   with the reason, and the router offers the next agent.
4. The caller hangs up: while waiting or ringing -> `cancel` (abandoned); connected ->
   `complete`. `overflow` -> `SendToOverflow`; `hold` (a transfer) -> `ReturnToHold`
   under the new request.

Every handler is a generator of `callflow.steps` (no I/O); the router decides, the flow
only carries out.
"""

from __future__ import annotations

import logging

from admin_config.targets import overflow_destination, overflow_label
from router.errors import InvalidInput, RouterError
from router.model import RequestState

from . import commands as cmd
from . import facts as f
from . import intents as do
from . import recording
from .context import FlowContext, user_id
from .records import WAITING_STATES, Call, CallKind, CallState
from .ringing import Ringing
from .steps import Ask, Do, Drop, Flow, Save, Touch

log = logging.getLogger("implus.callflow")

DEFAULT_MUSIC = "local_stream://moh"


def request_id_for(pbx_id: str, call_id: str, arrived_ms: int) -> str:
    """The id of a caller's routing request. It is in the call's record before it is filed,
    so filing it again (after a crash) changes nothing. The arrival time is part of it:
    Asterisk's Uniqueids (`<epoch>.<counter>`) repeat when it restarts twice within a
    second."""
    return f"{pbx_id}-{call_id}-{arrived_ms}"[:128]


class InboundFlow:
    def __init__(self, ctx: FlowContext) -> None:
        self.ctx = ctx
        self.ringing = Ringing(ctx, self)
        r = self.ringing
        self.ring_agent, self.cancel_ring = r.ring_agent, r.cancel_ring
        self.leg_ringing, self.leg_answered, self.leg_failed = (
            r.leg_ringing,
            r.leg_answered,
            r.leg_failed,
        )
        self.bridged = r.bridged

    # --- arrival ---------------------------------------------------------------------

    def arrived(self, fact: f.CallerArrived, adopted: bool = False) -> Flow:
        """A caller at an entry point (`adopted`: found by reconciliation, not by its
        event: requests a lost record filed before are cancelled)."""
        c = self.ctx
        if c.book.get(fact.call_id) is not None:
            return  # the same caller again (a repeated event, or found twice)
        if not fact.service:
            log.error(
                "caller %s at entry %r has no service: check the dialplan", fact.call_id, fact.entry
            )
            return
        now = c.now()
        call = Call(
            id=fact.call_id,
            kind=CallKind.INBOUND,
            channel=fact.channel,
            request=request_id_for(c.pbx_id, fact.call_id, now),
            service=fact.service,
            entry=fact.entry,
            user=user_id(fact.user, fact.call_id),
            media=fact.media if fact.media in ("voice", "voip") else "voice",
            exten=fact.exten,
            number=fact.number,
            caller_name=fact.caller_name,
            language=fact.language,
            hold_music=fact.hold_music,
            max_wait=fact.max_wait,
            started_ms=now,
            waiting_since_ms=now,
        )
        yield Save(call)
        yield from self.file(call, adopted=adopted)
        if call.state is not CallState.OVERFLOWED:
            yield Do(do.PlayHold(call.id, call.hold_music or DEFAULT_MUSIC))

    def file(self, call: Call, adopted: bool = False) -> Flow:
        """File (or file again) the caller's routing request; True once it waits."""
        c = self.ctx
        customer = {"language": call.language, "entry": call.entry, "number": call.number}
        try:
            sub = yield Ask(
                c.ops.submit(
                    channel=call.media,
                    service=call.service,
                    user_id=call.user,
                    customer={k: v for k, v in customer.items() if v},
                    pbx=c.pbx_id,
                    call_id=call.id,
                    request_id=call.request,
                    max_wait=self._wait_left(call),
                ),
                "submit",
            )
        except InvalidInput as e:
            log.error("caller %s cannot be routed (%s): sending it to the overflow", call.id, e)
            yield from self.send_to_overflow(call, "router refused the request", by="bridge")
            return False
        except RouterError as e:
            log.error("filing caller %s failed (%s); reconciliation retries", call.id, e)
            return False
        call.session = sub.session_id
        if call.state is CallState.NEW:
            call.state = CallState.WAITING
        yield Touch(call)  # saved with the next change; a restart files it again (same id)
        yield from self.note_answered(call)
        if adopted:
            yield from self._cancel_older_requests(call)
        return True

    def _wait_left(self, call: Call) -> int:
        """Seconds the caller may still wait before the overflow (0: no limit known). The
        router overflows the request then; the dialplan's own timer (max wait + hold
        margin) stays the safety net."""
        if call.max_wait <= 0:
            return 0
        waited_ms = self.ctx.now() - (call.waiting_since_ms or call.started_ms)
        return max(1, call.max_wait - max(0, waited_ms) // 1000)

    def note_answered(self, call: Call) -> Flow:
        """The entry point answered the caller: its `call.answered` entry (written with the
        flow's next router operation, or at its end; writing it again writes nothing)."""
        yield from self.ctx.note(
            call,
            "call.answered",
            leg=call.id,
            party="customer",
            entry=call.entry,
            number=call.number,
        )

    def _cancel_older_requests(self, call: Call) -> Flow:
        """Requests of this call filed before the current one (by a bridge that lost its
        record) must not wait on in the queues."""
        c = self.ctx
        try:
            requests = yield Ask(c.ops.session_requests(call.session), "session requests")
        except RouterError as e:
            log.warning("call %s: cannot look for older requests: %s", call.id, e)
            return
        for r in requests:
            waiting = r.state in (RequestState.QUEUED, RequestState.OFFERED)
            if r.call_id == call.id and r.id != call.request and waiting:
                log.info("call %s: cancelling request %s filed before", call.id, r.id)
                yield from c.ask("cancel", c.ops.cancel(r.id, "superseded"))

    def parked(self, call: Call) -> Flow:
        """FreeSWITCH parked the caller again: after `hold` it waits (music); after its
        agent left the bridge (park_after_bridge) the conversation is over."""
        c = self.ctx
        if call.state is CallState.CONNECTED:
            log.info("call %s: agent left, caller parked again: ending the call", call.id)
            yield from c.ask("complete", c.ops.complete(call.request, "agent hung up"))
            yield Do(do.HangUp(call.id))
        elif call.state in WAITING_STATES:
            yield Do(do.PlayHold(call.id, call.hold_music or DEFAULT_MUSIC))

    # --- the end -----------------------------------------------------------------------

    def gone(self, call: Call, fact: f.ChannelGone) -> Flow:
        c = self.ctx
        if fact.channel == call.leg and call.leg != call.id:
            # A leg the bridge placed (FreeSWITCH) ending while it rings did not answer;
            # Asterisk's ringing leg belongs to the caller's Dial, which tells the outcome
            # itself (its leg also ends when the caller hangs up first).
            if call.state is CallState.RINGING and c.chooses_agent_legs:
                yield from self.ringing.ring_ended(
                    call, call.leg, f.failure_reason(fact.cause), fact.cause
                )
            elif call.state is CallState.CONNECTED and not call.agent_gone:
                yield from self._agent_leg_ended(call, fact)  # the caller follows
            return
        if fact.channel != call.id:
            return
        talking = call.state is CallState.CONNECTED
        ended_by = call.ended_by or "customer"
        if talking and call.leg and not call.agent_gone:
            # The caller's hang-up may come before the agent's: the call ends here, so the
            # agent's leg is written down now, with the same cause.
            call.ended_by = ended_by
            yield from self._agent_leg_ended(call, fact)
        yield from c.note(
            call,
            "call.hangup",
            leg=call.id,
            party="customer",
            agent=call.agent,
            state=call.state.value,
            cause=fact.cause,
            cause_txt=fact.cause_txt,
            duration_s=c.seconds_since(call.started_ms),
            talk_s=c.seconds_since(call.bridged_ms or call.answered_ms) if talking else 0,
            ended_by=ended_by,
        )
        yield from recording.ended(c, call)
        yield Drop(call)
        if call.state in WAITING_STATES:
            if call.state is CallState.RINGING and call.leg:
                yield Do(do.HangUp(call.leg, "ORIGINATOR_CANCEL"))
            log.info("call %s abandoned after %.0f s", call.id, c.seconds_since(call.started_ms))
            yield from c.ask("cancel", c.ops.cancel(call.request, "abandoned"))
        elif talking:
            # Bridged, the PBX hangs the agent up too; accepted but not yet bridged (the
            # caller left in between), the agent would stay in a silent call.
            if call.leg and not call.agent_gone:
                yield Do(do.HangUp(call.leg))
            yield from c.ask("complete", c.ops.complete(call.request, f"hangup by {ended_by}"))

    def _agent_leg_ended(self, call: Call, fact: f.ChannelGone) -> Flow:
        c = self.ctx
        call.agent_gone = True
        call.ended_by = call.ended_by or "agent"
        yield Touch(call)
        yield from c.note(
            call,
            "call.hangup",
            leg=call.leg,
            party="agent",
            agent=call.agent,
            cause=fact.cause,
            cause_txt=fact.cause_txt,
            duration_s=c.seconds_since(call.answered_ms),
            ended_by=call.ended_by,
        )

    def hangup_requested(self, call: Call, fact: f.HangupRequested) -> Flow:
        if not call.ended_by:
            call.ended_by = "customer" if fact.channel == call.id else "agent"
            yield Touch(call)

    # --- router decisions about a waiting caller ----------------------------------------

    def overflow(self, call: Call, command: cmd.Overflow) -> Flow:
        if call.request != command.request or call.state not in WAITING_STATES:
            return
        destination = command.destination or overflow_label(self.ctx.config, call.entry)
        yield from self.send_to_overflow(call, destination, by="router")

    def send_to_overflow(self, call: Call, destination: str, by: str) -> Flow:
        c = self.ctx
        try:
            to = overflow_destination(c.config, call.entry)
        except KeyError:
            log.error(
                "caller %s: entry point %r is not in the admin config, cannot overflow "
                "it; the dialplan's own overflow takes it after max wait",
                call.id,
                call.entry,
            )
            return
        leg = call.leg if call.state is CallState.RINGING else ""
        call.clear_agent()
        call.state = CallState.OVERFLOWED
        yield Save(call)  # kept until its hang-up; reconciliation sees where it went
        if leg:
            yield Do(do.HangUp(leg, "ORIGINATOR_CANCEL"))
        if not (yield Do(do.SendToOverflow(call.id, to))):
            log.warning("caller %s was not sent to the overflow", call.id)
            return
        yield from c.note(
            call,
            "call.transferred",
            call.request,
            to="overflow",
            destination=destination,
            by=by,
        )

    def dialplan_overflow(self, call: Call, fact: f.DialplanOverflow) -> Flow:
        """The entry point's own safety net overflowed the caller."""
        c = self.ctx
        if call.state not in WAITING_STATES:
            return
        leg = call.leg if call.state is CallState.RINGING else ""
        call.clear_agent()
        call.state = CallState.OVERFLOWED
        yield Save(call)
        if leg:
            yield Do(do.HangUp(leg, "ORIGINATOR_CANCEL"))
        yield from c.ask("cancel", c.ops.cancel(call.request, "overflowed by the PBX (max wait)"))
        yield from c.note(
            call,
            "call.transferred",
            call.request,
            to="overflow",
            destination=fact.destination or overflow_label(c.config, call.entry),
            by="dialplan",
        )

    def hold(self, call: Call, command: cmd.Hold) -> Flow:
        """A transfer: the caller goes back on hold as `command.request`."""
        c = self.ctx
        if call.request == command.request:
            return
        old_agent, old_leg = call.agent, call.leg
        busy = call.state in (CallState.CONNECTED, CallState.RINGING)
        # Call control's legs end with the agent's: a held agent waits apart (Asterisk), a
        # consulted party or a listening supervisor are in no bridge with the caller.
        ending = [x for x in (old_leg if call.apart else "", call.consult_leg, call.spy_leg) if x]
        call.request = command.request
        call.clear_agent()
        call.clear_spy()
        if busy:  # back on hold: the entry's overflow timer starts again (router and PBX)
            call.waiting_since_ms = c.now()
        yield Save(call)
        if busy:  # out of the agent's conversation (the agent's phone hangs up) onto hold
            yield Do(do.ReturnToHold(call.id, old_leg, call.exten, call.entry, call.max_wait))
        for leg in ending:
            yield Do(do.HangUp(leg))
        yield from c.note(
            call,
            "call.transferred",
            command.request,
            to="hold",
            agent=old_agent or command.agent,
            by="router",
        )

    def route_again(self, call: Call, rehold: bool) -> Flow:
        """File a new routing request for a caller still here. With `rehold` the caller was
        with an agent and goes back on hold first (its entry's overflow timer armed again)."""
        c = self.ctx
        old_leg = call.leg
        if call.state in WAITING_STATES and call.request:
            yield from c.ask("cancel", c.ops.cancel(call.request, "superseded"))
        call.clear_agent()
        call.state = CallState.NEW
        call.request = request_id_for(c.pbx_id, call.id, c.now())
        if rehold:
            call.waiting_since_ms = c.now()  # the entry's overflow timer starts again
        yield Save(call)
        if rehold:
            yield Do(do.ReturnToHold(call.id, old_leg, call.exten, call.entry, call.max_wait))
        yield from self.file(call)
