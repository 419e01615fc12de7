"""Call control on a connected inbound call, the same on both PBXs: hold / resume, mute /
unmute, blind transfer to a number, consult (an agent or a number) then complete or
cancel, hang up - and a supervisor listening in (listen, whisper, barge).

The router checks who may act (`router/control.py`: the agent on the call, or a
supervisor) and sends `call_control` / `supervise` commands; this flow carries them out
with the intents of `callflow.intents` and writes every step into the transcript:
`call.control` (action, by, state done / failed, reason), `call.consult` (the consult leg:
ringing, answered, ended, failed), `call.transferred` (to a number, or to the consulted
agent) and `call.supervise` (supervisor, mode, state). docs/call-flow.md ("Call
control") has each PBX's means.

A blind transfer to a queue or an agent is the router's `transfer` (the caller goes back on
hold: `InboundFlow.hold`). An attended transfer to an agent ends with the router's
`handover`: the consulted agent owns the call from then on.
"""

from __future__ import annotations

import logging
from typing import Any

from admin_config.errors import NoRoute
from admin_config.targets import dial_agent, number_dial_string, outbound_destination
from router import control as router_control

from . import commands as cmd
from . import facts as f
from . import intents as do
from . import policy
from .context import FlowContext
from .records import Call, CallState
from .steps import Do, Flow, Save, Touch
from .supervise import Supervision

log = logging.getLogger("implus.callflow")

DEFAULT_MUSIC = "local_stream://moh"


class ControlFlow:
    def __init__(self, ctx: FlowContext) -> None:
        self.ctx = ctx
        self.supervision = Supervision(ctx)
        self.supervise = self.supervision.command

    # --- which facts are about call control --------------------------------------------

    def claims(self, call: Call, fact: f.Fact) -> bool:
        """Whether `fact` is about a consult or a spy leg of `call`, or a held customer."""
        if not call.inbound:
            return False
        extra = {x for x in (call.consult_leg, call.spy_leg) if x}
        if isinstance(fact, f.LegRinging | f.LegAnswered | f.LegFailed):
            if fact.leg in extra:
                return True
            # Asterisk: the agent's own Dial of the consult target (its leg not known yet)
            return bool(call.consult_kind) and bool(call.leg) and fact.by == call.leg
        if isinstance(fact, f.ChannelGone):
            return fact.channel in extra or (fact.channel == call.leg and call.apart)
        if isinstance(fact, f.Parked):
            return call.apart and call.state is CallState.CONNECTED
        return False

    def fact(self, call: Call, fact: f.Fact) -> Flow:
        if isinstance(fact, f.Parked):
            yield Do(do.PlayHold(call.id, call.hold_music or DEFAULT_MUSIC))
        elif call.spy_leg and call.spy_leg in f.channels_of(fact):
            yield from self.supervision.fact(call, fact)
        elif isinstance(fact, f.ChannelGone) and fact.channel == call.leg:
            yield from self._agent_left(call, fact)
        else:
            yield from self._consult_fact(call, fact)

    # --- commands ----------------------------------------------------------------------

    def command(self, call: Call, command: cmd.CallControl) -> Flow:
        """Carry out a `call_control` command on its call."""
        action = command.action
        if call.request != command.request or call.state is not CallState.CONNECTED:
            why = f"the call is {call.state.value}" if call.request == command.request else ""
            yield from self._outcome(call, command, False, why or "the call was handed on")
            return
        if not call.leg:
            yield from self._outcome(call, command, False, "the agent's leg is not known yet")
            return
        handler = {
            "hold": self._hold,
            "resume": self._resume,
            "mute": self._mute,
            "unmute": self._mute,
            "transfer": self._transfer,
            "consult": self._consult,
            "complete": self._complete,
            "cancel": self._cancel,
            "hangup": self._hangup,
        }.get(action)
        if handler is None:
            yield from self._outcome(call, command, False, f"unknown action {action!r}")
            return
        yield from handler(call, command)

    def _outcome(
        self, call: Call, command: cmd.CallControl, ok: bool, reason: str = "", **data: Any
    ) -> Flow:
        if not ok:
            log.info("call %s: %s refused: %s", call.id, command.action, reason)
        yield from self.ctx.note(
            call,
            "call.control",
            f"{command.action}:{command.at}",
            action=command.action,
            by=command.by,
            state="done" if ok else "failed",
            reason=reason,
            agent=call.agent,
            **data,
        )

    def _hold(self, call: Call, command: cmd.CallControl) -> Flow:
        if call.held:
            yield from self._outcome(call, command, False, "the customer is on hold already")
            return
        how = yield Do(do.HoldCustomer(call.id, call.leg, call.hold_music or DEFAULT_MUSIC))
        if how == "failed":
            yield from self._outcome(call, command, False, "the PBX could not hold the call")
            return
        call.held, call.apart = True, how == "apart"
        yield Save(call)
        yield from self._outcome(call, command, True)

    def _resume(self, call: Call, command: cmd.CallControl) -> Flow:
        if not call.held:
            yield from self._outcome(call, command, False, "the customer is not on hold")
            return
        if call.consult_kind:
            yield from self._outcome(call, command, False, "complete or cancel the consult first")
            return
        if not (yield Do(do.ResumeCustomer(call.id, call.leg, call.apart))):
            yield from self._outcome(call, command, False, "the PBX could not resume the call")
            return
        call.held = call.apart = False
        yield Save(call)
        yield from self._outcome(call, command, True)

    def _mute(self, call: Call, command: cmd.CallControl) -> Flow:
        on = command.action == "mute"
        if call.muted == on:
            yield from self._outcome(call, command, False, f"already {command.action}d")
            return
        if not (yield Do(do.MuteAgent(call.leg, on))):
            yield from self._outcome(call, command, False, "the PBX could not do it")
            return
        call.muted = on
        yield Save(call)
        yield from self._outcome(call, command, True)

    def _transfer(self, call: Call, command: cmd.CallControl) -> Flow:
        """Blind transfer to a number (the router itself transfers to queues and agents)."""
        c = self.ctx
        if command.target_kind != "number":
            yield from self._outcome(call, command, False, "queues and agents: the router's")
            return
        if call.consult_kind:
            yield from self._outcome(call, command, False, "complete or cancel the consult first")
            return
        try:
            number_dial_string(c.config, c.pbx_id, command.target, call.service or None)
            trunk = outbound_destination(c.config, c.pbx_id, call.service or None)
        except (NoRoute, KeyError) as e:
            yield from self._outcome(call, command, False, str(e)[:200])
            return
        leg = call.leg
        if not (yield Do(do.TransferOut(call.id, leg, trunk, command.target))):
            yield from self._outcome(call, command, False, "the PBX could not transfer it")
            return
        yield from self._handed_to_number(call, command, command.target, leg)

    def _handed_to_number(
        self, call: Call, command: cmd.CallControl, number: str, old_leg: str
    ) -> Flow:
        """The customer talks with `number` now: the router's contact is over; the record
        stays until the customer hangs up."""
        c = self.ctx
        agent = call.agent
        call.state = CallState.TRANSFERRED
        call.leg = call.consult_leg if call.consult_leg != old_leg else ""
        call.held = call.apart = call.muted = False
        call.clear_consult()
        yield Save(call)
        yield from c.ask("complete", c.ops.complete(call.request, f"transferred to {number}"))
        yield from self._outcome(call, command, True, target=number)
        yield from c.note(
            call,
            "call.transferred",
            f"number:{command.at}",
            to="number",
            number=number,
            agent=agent,
            by=command.by,
        )

    def _consult(self, call: Call, command: cmd.CallControl) -> Flow:
        c = self.ctx
        if call.consult_kind:
            yield from self._outcome(call, command, False, "a consult is in progress already")
            return
        try:
            if command.target_kind == "agent":
                dial = dial_agent(
                    c.config, c.pbx_id, command.target, command.endpoint, command.target_pbx
                )
            elif command.target_kind == "number":
                dial = number_dial_string(c.config, c.pbx_id, command.target, call.service or None)
            else:
                raise NoRoute(f"cannot consult a {command.target_kind or 'nobody'}")
        except (NoRoute, KeyError) as e:
            yield from self._outcome(call, command, False, str(e)[:200])
            return
        if not call.held:
            how = yield Do(do.HoldCustomer(call.id, call.leg, call.hold_music or DEFAULT_MUSIC))
            if how == "failed":
                yield from self._outcome(call, command, False, "the PBX could not hold the call")
                return
            call.held, call.apart = True, how == "apart"
        key = f"consult-{call.id}-{command.at}"
        call.consult_leg = c.leg_id(key) if c.chooses_agent_legs else ""
        call.consult_kind, call.consult_target = command.target_kind, command.target
        call.consult_state = "dialing"
        held_in_bridge = not call.apart
        yield Save(call)  # before the PBX acts: the consult leg's events must find the call
        placed = yield Do(
            do.DialConsult(
                call.id,
                call.leg,
                call.consult_leg,
                dial,
                policy.CONSULT_RING_S,
                command.target if command.target_kind == "number" else "",
                held_in_bridge,
            )
        )
        if not placed:
            call.clear_consult()
            yield Save(call)
            yield from self._outcome(call, command, False, "the PBX could not place the call")
            return
        call.apart = True  # the agent leg left the customer to call the target
        yield Save(call)
        yield from self._outcome(
            call, command, True, target_kind=command.target_kind, target=command.target
        )
        yield from self._consult_note(call, "dialing")

    def _complete(self, call: Call, command: cmd.CallControl) -> Flow:
        if call.consult_state != "talking" or not call.consult_leg:
            yield from self._outcome(call, command, False, "the consulted party has not answered")
            return
        yield from self._hand_over(call, command, call.leg)

    def _hand_over(self, call: Call, command: cmd.CallControl, old_leg: str) -> Flow:
        """Customer and consult target talk from now on; the first agent is off the call.
        Returns whether the PBX connected them."""
        c = self.ctx
        if not (yield Do(do.CompleteConsult(call.id, old_leg, call.consult_leg))):
            yield from self._outcome(call, command, False, "the PBX could not connect them")
            return False
        if call.consult_kind == "number":
            yield from self._handed_to_number(call, command, call.consult_target, old_leg)
            return True
        target, old_agent = call.consult_target, call.agent
        # The PBX connected them already: a router that refuses (or is down) is logged.
        op = router_control.handover(c.ops, call.request, target, command.by)
        handed = yield from c.ask("handover", op)
        if handed is not None and handed.ok:
            call.request = handed.request_id
        call.agent, call.leg = target, call.consult_leg
        call.offer, call.ended_by = "", ""
        call.held = call.apart = call.muted = call.agent_gone = False
        call.answered_ms = call.bridged_ms = c.now()
        call.clear_consult()
        yield Save(call)
        yield from self._outcome(call, command, True, target_kind="agent", target=target)
        yield from c.note(
            call,
            "call.transferred",
            f"agent:{command.at}",
            to="agent",
            agent=target,
            previous=old_agent,
            agent_leg=call.leg,
            by=command.by,
            request=call.request,
        )
        return True

    def _cancel(self, call: Call, command: cmd.CallControl) -> Flow:
        if not call.consult_kind:
            yield from self._outcome(call, command, False, "there is no consult to cancel")
            return
        if call.consult_leg:
            yield Do(do.DropConsult(call.id, call.leg, call.consult_leg))
        yield from self._consult_over(call, "cancelled", "ORIGINATOR_CANCEL", "")
        if (yield Do(do.ResumeCustomer(call.id, call.leg, call.apart))):
            call.held = call.apart = False
            yield Save(call)
            yield from self._outcome(call, command, True)
        else:
            yield from self._outcome(call, command, False, "the customer is still on hold")

    def _hangup(self, call: Call, command: cmd.CallControl) -> Flow:
        call.ended_by = "agent"
        yield Touch(call)
        yield from self._outcome(call, command, True)
        yield Do(do.HangUp(call.id))

    # --- the consult leg -----------------------------------------------------------------

    def _consult_fact(self, call: Call, fact: f.Fact) -> Flow:
        if isinstance(fact, f.LegRinging):
            if not call.consult_leg and fact.leg:
                call.consult_leg = fact.leg  # Asterisk: the agent's Dial names it
                yield Save(call)
        elif isinstance(fact, f.LegAnswered):
            if call.consult_state != "dialing" or (fact.leg and fact.leg != call.consult_leg):
                return
            if not (yield Do(do.ConnectConsult(call.leg, call.consult_leg))):
                yield Do(do.HangUp(call.consult_leg))
                return  # its hang-up ends the consult
            call.consult_state = "talking"
            yield Save(call)
            yield from self._consult_note(call, "answered")
        elif isinstance(fact, f.LegFailed):
            if not call.consult_kind or (fact.leg and fact.leg != call.consult_leg):
                return
            yield from self._consult_over(call, "failed", fact.cause, fact.reason)
        elif isinstance(fact, f.ChannelGone) and fact.channel == call.consult_leg:
            state = "ended" if call.consult_state == "talking" else "failed"
            yield from self._consult_over(call, state, fact.cause, f.failure_reason(fact.cause))

    def _consult_over(self, call: Call, state: str, cause: str, reason: str) -> Flow:
        """The consult leg did not answer, or hung up: the customer stays on hold."""
        if not call.consult_kind:
            return
        target, kind = call.consult_target, call.consult_kind
        call.clear_consult()
        yield Save(call)
        yield from self.ctx.note(
            call,
            "call.consult",
            f"{state}:{self.ctx.now()}",
            state=state,
            target_kind=kind,
            target=target,
            cause=cause,
            reason=reason if state == "failed" else "",
        )

    def _consult_note(self, call: Call, state: str) -> Flow:
        yield from self.ctx.note(
            call,
            "call.consult",
            f"{state}:{call.consult_target}:{self.ctx.now()}",
            state=state,
            target_kind=call.consult_kind,
            target=call.consult_target,
            leg=call.consult_leg or call.leg,
        )

    def _agent_left(self, call: Call, fact: f.ChannelGone) -> Flow:
        """The agent hung up while the customer was on hold: talking with a consulted
        party, that completes the transfer (as on an office phone); else the customer's
        call ends (nobody would take them off hold)."""
        if call.consult_state == "talking":
            command = cmd.CallControl(
                call.id, call.request, "complete", call.agent, by=call.agent, at=self.ctx.now()
            )
            if (yield from self._hand_over(call, command, call.leg)):
                return
            # Asterisk: the consulted leg belonged to the agent's Dial and ended with it
        if call.consult_leg:
            yield Do(do.DropConsult(call.id, call.leg, call.consult_leg))
        call.agent_gone, call.ended_by = True, "agent"
        yield Touch(call)
        yield from self.ctx.note(
            call, "call.hangup", leg=call.leg, party="agent", agent=call.agent, cause=fact.cause
        )
        yield Do(do.HangUp(call.id))
