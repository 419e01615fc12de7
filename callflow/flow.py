"""`CallFlow`: which handler a fact or a router command goes to, and in whose order.

Everything about one call - its PBX facts, the router's commands for it, reconciliation -
runs in that call's order (the bridge keeps one queue per `key_of_*`), so each handler sees
the call as the previous step left it; different calls run concurrently. The call is looked
up again when its turn comes: the book may have changed meanwhile (a caller's arrival may
still be queued when its hang-up comes).
"""

from __future__ import annotations

import logging

from . import commands as cmd
from . import facts as f
from . import intents as do
from . import policy
from .context import FlowContext
from .control import ControlFlow
from .inbound import InboundFlow
from .outbound import OutboundFlow
from .reconcile import Reconciler
from .records import Call
from .steps import Do, Flow

log = logging.getLogger("implus.callflow")


class CallFlow:
    """The call flow of one PBX bridge (pure: yields steps, see `callflow.steps`)."""

    def __init__(self, ctx: FlowContext) -> None:
        self.ctx = ctx
        self.inbound = InboundFlow(ctx)
        self.outbound = OutboundFlow(ctx)
        self.control = ControlFlow(ctx)
        self.reconciler = Reconciler(ctx, self.inbound, self.outbound)

    # --- whose turn --------------------------------------------------------------------

    def _call_of(self, fact: f.Fact) -> Call | None:
        for channel in f.channels_of(fact):
            call = self.ctx.book.find(channel)
            if call is not None:
                return call
        return None

    def key_of_fact(self, fact: f.Fact) -> str:
        """The queue a fact waits in: its call's, else its first channel's."""
        if isinstance(fact, f.DeviceChanged):
            return f"device:{fact.endpoint}"
        call = self._call_of(fact)
        if call is not None:
            return call.id
        return next((c for c in f.channels_of(fact) if c), "facts")

    def key_of_command(self, command: cmd.Command) -> str:
        book = self.ctx.book
        if isinstance(command, cmd.Callback):
            return self.ctx.leg_id(command.offer)
        if isinstance(command, cmd.ClickToCall):
            return self.ctx.leg_id(command.call)
        if isinstance(command, cmd.CancelRing):
            call = book.by_offer(command.offer) or book.find(command.call_id)
            return call.id if call else command.call_id or self.ctx.leg_id(command.offer)
        call = book.find(command.call_id)
        return call.id if call else command.call_id

    # --- handlers ----------------------------------------------------------------------

    def concerns(self, fact: f.Fact) -> bool:
        """Could `fact(fact)` do anything now? Not for a fact about no call in the book
        (a PBX's other traffic, a leg's events after its call ended), except a caller
        arriving and an agent leg answering for an offer nobody holds (hung up)."""
        if isinstance(fact, f.CallerArrived):
            return True
        if isinstance(fact, f.LegAnswered) and fact.leg and not fact.by:
            return True
        return self._call_of(fact) is not None

    def fact(self, fact: f.Fact) -> Flow:
        """Handle a PBX fact (not `DeviceChanged`: presence is the bridge's)."""
        if isinstance(fact, f.CallerArrived):
            yield from self.inbound.arrived(fact)
            return
        call = self._call_of(fact)
        if call is None:
            if isinstance(fact, f.LegAnswered) and fact.leg and not fact.by:
                # an agent leg answered for an offer nobody holds any more
                log.info("hanging up agent leg %s: no call holds it any more", fact.leg)
                yield Do(do.HangUp(fact.leg, "ORIGINATOR_CANCEL"))
            return
        if self.control.claims(call, fact):
            yield from self.control.fact(call, fact)
            return
        handler = self.inbound if call.inbound else self.outbound
        if isinstance(fact, f.LegRinging):
            yield from handler.leg_ringing(call, fact)
        elif isinstance(fact, f.LegAnswered):
            yield from handler.leg_answered(call, fact)
        elif isinstance(fact, f.LegFailed):
            yield from handler.leg_failed(call, fact)
        elif isinstance(fact, f.Bridged):
            yield from handler.bridged(call, fact)
        elif isinstance(fact, f.ChannelGone):
            yield from handler.gone(call, fact)
        elif isinstance(fact, f.HangupRequested):
            yield from handler.hangup_requested(call, fact)
        elif isinstance(fact, f.Parked) and call.inbound:
            yield from self.inbound.parked(call)
        elif isinstance(fact, f.DialplanOverflow) and call.inbound:
            yield from self.inbound.dialplan_overflow(call, fact)

    def command(self, command: cmd.Command) -> Flow:
        """Carry out a router command (one issued long ago is dropped: the router has
        moved on; a ring it asked for fails, so the offer ends at once)."""
        c = self.ctx
        book = c.book
        if policy.too_old(command.at, c.now()):
            log.warning(
                "dropping %s issued %.0f s ago (the bridge was away)",
                command.type,
                (c.now() - command.at) / 1000,
            )
            if isinstance(command, cmd.RingAgent | cmd.Callback):
                yield from c.ask("offer_failed", c.ops.offer_failed(command.offer, "unavailable"))
            return
        if isinstance(command, cmd.RingAgent):
            yield from self.inbound.ring_agent(command)
        elif isinstance(command, cmd.Callback | cmd.ClickToCall):
            yield from self.outbound.start(command)
        elif isinstance(command, cmd.CancelRing):
            call = book.by_offer(command.offer) or book.find(command.call_id)
            if call is None:
                return
            if call.inbound:
                yield from self.inbound.cancel_ring(call, command)
            else:
                yield from self.outbound.cancel_ring(call, command)
        else:
            call = book.find(command.call_id)
            if call is None or not call.inbound:
                log.info(
                    "%s for call %s, which this bridge does not hold", command.type, command.call_id
                )
                return
            if isinstance(command, cmd.Overflow):
                yield from self.inbound.overflow(call, command)
            elif isinstance(command, cmd.CallControl):
                yield from self.control.command(call, command)
            elif isinstance(command, cmd.Supervise):
                yield from self.control.supervise(call, command)
            else:
                yield from self.inbound.hold(call, command)
