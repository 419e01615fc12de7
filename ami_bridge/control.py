"""Call control's intents (`callflow.intents`) carried out with AMI actions.

Asterisk holds a customer by taking both legs out of their Dial's bridge at once - one
`Redirect` with `ExtraChannel`: the customer to `implus-held` (MusicOnHold, the entry's
class), the agent to `implus-agent-held` (silence) - and joins them again with the AMI
`Bridge` action. A consult is the agent's own Dial from `implus-consult` (its variables
set first, as for ringing an agent); completing it bridges the customer with the consulted
leg and hangs the agent up. Mute is `MuteAudio` on the agent's incoming audio, recording
`MixMonitor` on the customer's channel, listening in an `Originate` of the supervisor's
phone into `implus-spy` (ChanSpy on the agent leg, options `q d E S u` plus `w` to
whisper or `B` to barge; `d` lets `PlayDTMF` with `Receive` switch 4/5/6 later).
docs/call-flow.md has the dialplan side.
"""

from __future__ import annotations

from typing import Any

from admin_config.targets import (
    CONSULT_DIAL_VAR,
    RING_VAR,
    SPY_MODE_VAR,
    SPY_VAR,
    agent_held_destination,
    consult_destination,
    held_destination,
    spy_destination,
)
from callflow import intents as do
from callflow.policy import SPY_RING_S

from .errors import AmiActionFailed
from .pbx import Asterisk
from .translate import originate_id

SPY_OPTIONS = {"listen": "", "whisper": "w", "barge": "B"}
"""ChanSpy's mode option for the mode a supervisor starts in."""
SPY_DIGITS = {"listen": "4", "whisper": "5", "barge": "6"}
"""ChanSpy `d`: DTMF 4 spy, 5 whisper, 6 barge."""


class AmiControl:
    """Carries out the call-control intents on one Asterisk."""

    def __init__(self, pbx: Asterisk) -> None:
        self.pbx = pbx

    async def __call__(self, intent: do.Intent) -> Any:
        pbx = self.pbx
        if isinstance(intent, do.HoldCustomer):
            moved = await pbx.redirect_both(
                intent.call_id, held_destination(), intent.leg, agent_held_destination()
            )
            return "apart" if moved else "failed"
        if isinstance(intent, do.ResumeCustomer):
            return await pbx.bridge(intent.call_id, intent.leg)
        if isinstance(intent, do.MuteAgent):
            return await pbx.mute(intent.leg, intent.on)
        if isinstance(intent, do.DialConsult):
            variables = {CONSULT_DIAL_VAR: intent.dial, RING_VAR: f"{intent.seconds:.3f}"}
            return await pbx.ring_for(intent.leg, consult_destination(), variables)
        if isinstance(intent, do.ConnectConsult):
            return True  # the agent's own Dial connected them on answer
        if isinstance(intent, do.DropConsult):
            await pbx.redirect(intent.leg, agent_held_destination())  # ends the agent's Dial
            return None
        if isinstance(intent, do.CompleteConsult):
            if not await pbx.bridge(intent.call_id, intent.consult_leg):
                return False
            await pbx.hangup(intent.leg)
            return True
        if isinstance(intent, do.TransferOut):
            variables = {"IMPLUS_DIAL": intent.number}
            moved = await pbx.ring_for(intent.call_id, intent.trunk, variables)
            await pbx.hangup(intent.leg)  # gone already unless it waited apart
            return moved
        if isinstance(intent, do.StartRecording):
            return await pbx.mixmonitor(intent.call_id, intent.path)
        if isinstance(intent, do.Spy):
            return await self._spy(intent)
        if isinstance(intent, do.SpyMode):
            if intent.first:
                return True  # ChanSpy started in this mode (SPY_OPTIONS)
            digit = SPY_DIGITS.get(intent.mode)
            if digit is None:
                return False
            return await pbx.receive_dtmf(intent.spy_leg, digit)
        raise TypeError(f"unknown intent {intent!r}")

    async def _spy(self, intent: do.Spy) -> bool:
        try:
            await self.pbx.originate(
                intent.dial,
                spy_destination(),
                leg=intent.spy_leg,
                action_id=originate_id(intent.spy_leg),
                ring_seconds=SPY_RING_S,
                caller=f'"Listen in" <{intent.supervisor[:40]}>',
                variables={
                    SPY_VAR: intent.target,
                    SPY_MODE_VAR: SPY_OPTIONS.get(intent.mode, ""),
                    "IMPLUS_SUPERVISOR": intent.supervisor,
                },
            )
        except AmiActionFailed:
            return False
        return True
