"""A supervisor listening in on a connected call: listen, whisper to the agent, barge in
(issue 15), the same on both PBXs.

The bridge rings the supervisor's phone (`supervisors:` in the admin YAML) as a leg of the
call (`Call.spy_leg`); once answered it hears the agent leg and the customer (Asterisk
ChanSpy, FreeSWITCH eavesdrop) and the mode can change while it listens. One supervisor at
a time per call. Every use is in the transcript: `call.supervise` (supervisor, mode,
state requested / ringing / listening / mode / ended / failed).
"""

from __future__ import annotations

import logging
from typing import Any

from admin_config.errors import NoRoute
from admin_config.targets import supervisor_dial_string

from . import commands as cmd
from . import facts as f
from . import intents as do
from .context import FlowContext
from .records import Call, CallState
from .steps import Do, Flow, Save

log = logging.getLogger("implus.callflow")

SPY_MODES = ("listen", "whisper", "barge")


class Supervision:
    def __init__(self, ctx: FlowContext) -> None:
        self.ctx = ctx

    def command(self, call: Call, command: cmd.Supervise) -> Flow:
        """Carry out a `supervise` command: ring the supervisor's phone into the call, change
        the mode of one that listens already, or stop."""
        c = self.ctx
        mode = command.mode
        if call.spy_leg and call.spy_by != command.supervisor:
            yield from self._spy_note(
                call, command.supervisor, mode, "failed", reason=f"{call.spy_by} listens already"
            )
            return
        if mode == "stop":
            if call.spy_leg:
                yield Do(do.HangUp(call.spy_leg))  # its hang-up is noted
            return
        if mode not in SPY_MODES:
            yield from self._spy_note(call, command.supervisor, mode, "failed", reason="bad mode")
            return
        if call.spy_leg:
            if call.spy_mode == mode:
                return
            call.spy_mode = mode
            yield Save(call)
            if (yield Do(do.SpyMode(call.spy_leg, mode))):
                yield from self._spy_note(call, command.supervisor, mode, "mode")
            return
        if call.request != command.request or call.state is not CallState.CONNECTED or not call.leg:
            reason = "the call is not connected to an agent"
            yield from self._spy_note(call, command.supervisor, mode, "failed", reason=reason)
            return
        try:
            dial = supervisor_dial_string(c.config, c.pbx_id, command.supervisor)
        except (NoRoute, KeyError) as e:
            yield from self._spy_note(call, command.supervisor, mode, "failed", reason=str(e))
            return
        call.spy_leg = c.leg_id(f"spy-{call.id}-{command.at}")
        call.spy_by, call.spy_mode = command.supervisor, mode
        yield Save(call)
        placed = yield Do(do.Spy(call.id, call.leg, call.spy_leg, dial, mode, command.supervisor))
        if not placed:
            call.clear_spy()
            yield Save(call)
            reason = "the PBX could not ring the supervisor's phone"
            yield from self._spy_note(call, command.supervisor, mode, "failed", reason=reason)
            return
        yield from self._spy_note(call, command.supervisor, mode, "ringing")

    def fact(self, call: Call, fact: f.Fact) -> Flow:
        """A fact about the spy leg: answered (the mode is set), failed or ended."""
        if isinstance(fact, f.LegRinging):
            return
        if isinstance(fact, f.LegAnswered):
            if call.spy_answered:
                return
            call.spy_answered = True
            yield Save(call)
            yield Do(do.SpyMode(call.spy_leg, call.spy_mode, first=True))
            yield from self._spy_note(call, call.spy_by, call.spy_mode, "listening")
            return
        cause = fact.cause if isinstance(fact, f.LegFailed | f.ChannelGone) else "UNKNOWN"
        state = "ended" if call.spy_answered else "failed"
        by, mode = call.spy_by, call.spy_mode
        call.clear_spy()
        yield Save(call)
        yield from self._spy_note(call, by, mode, state, cause=cause)

    def _spy_note(self, call: Call, supervisor: str, mode: str, state: str, **data: Any) -> Flow:
        yield from self.ctx.note(
            call,
            "call.supervise",
            f"{supervisor}:{state}:{self.ctx.now()}",
            supervisor=supervisor,
            mode=mode,
            state=state,
            agent=call.agent,
            leg=call.spy_leg or call.leg,
            **data,
        )
