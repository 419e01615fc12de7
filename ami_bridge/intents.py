"""The call flow's intents (`callflow.intents`) carried out with AMI actions.

Asterisk rings an agent from the waiting caller's own Dial (`implus-connect`, the same
mechanism as app_queue): the ring is two channel variables and a Redirect, the agent's
answer already connects the two (so `Connect` has nothing left to do), and taking the
caller back to its entry point's hold step ends any Dial and restarts the entry's own
overflow timer. docs/call-flow.md has the dialplan side.
"""

from __future__ import annotations

from typing import Any

from admin_config.targets import (
    AGENT_DIAL_VAR,
    RING_VAR,
    connect_destination,
    hold_destination,
)
from callflow import intents as do

from .control import AmiControl
from .errors import AmiActionFailed, AmiUnavailable
from .pbx import Asterisk, caller_id
from .translate import CAUSE_NAMES, originate_id

CAUSE_CODES = {name: code for code, name in CAUSE_NAMES.items()}
CAUSE_CODES["ORIGINATOR_CANCEL"] = 16  # Asterisk has no Q.850 code for it: normal clearing

VARIABLES = {
    "entry": "IMPLUS_ENTRY",
    "service": "IMPLUS_SERVICE",
    "user": "IMPLUS_USER",
    "language": "IMPLUS_LANGUAGE",
    "max_wait": "IMPLUS_MAXWAIT",
    "media": "IMPLUS_MEDIA",
    "agent": "IMPLUS_AGENT",
}
"""The call flow's channel variable names -> the ones the generated dialplan sets."""


class AmiIntents:
    """Carries out intents on one Asterisk."""

    def __init__(self, pbx: Asterisk) -> None:
        self.pbx = pbx
        self.control = AmiControl(pbx)
        self.listed_variables: dict[str, dict[str, str]] = {}
        """Channel variables CoreShowChannels listed (reconciliation), by Uniqueid: read
        from there before asking Asterisk."""

    async def __call__(self, intent: do.Intent) -> Any:
        try:
            return await self._do(intent)
        except AmiUnavailable as e:
            raise do.PbxUnavailable(str(e)) from e

    async def _do(self, intent: do.Intent) -> Any:
        pbx = self.pbx
        if isinstance(intent, do.RingAgent):
            variables = {AGENT_DIAL_VAR: intent.dial, RING_VAR: f"{intent.seconds:.3f}"}
            rung = await pbx.ring_for(intent.call_id, connect_destination(), variables)
            return "ringing" if rung else "caller_gone"
        if isinstance(intent, do.DropAgentLeg):
            await pbx.redirect(intent.call_id, hold_destination(intent.exten))  # ends the Dial
            return None
        if isinstance(intent, do.Connect):
            return "bridged"  # the caller's Dial connected them when the agent answered
        if isinstance(intent, do.ReturnToHold):
            return await pbx.redirect(intent.call_id, hold_destination(intent.exten))
        if isinstance(intent, do.PlayHold | do.DialCustomer):
            return True  # the dialplan does it (entry hold step; implus-outbound)
        if isinstance(intent, do.SendToOverflow):
            return await pbx.redirect(intent.call_id, intent.to)
        if isinstance(intent, do.HangUp):
            await pbx.hangup(intent.channel, CAUSE_CODES.get(intent.cause, 16))
            return None
        if isinstance(intent, do.PlaceAgentFirst):
            return await self._place(intent)
        if isinstance(intent, do.ChannelExists):
            return (await pbx.getvar(intent.channel, "UNIQUEID")) is not None
        if isinstance(intent, do.ReadVariables):
            return await self._variables(intent)
        return await self.control(intent)

    async def _place(self, intent: do.PlaceAgentFirst) -> bool:
        try:
            await self.pbx.originate(
                intent.dial,
                intent.trunk,
                leg=intent.leg,
                action_id=originate_id(intent.leg),
                ring_seconds=intent.seconds,
                caller=caller_id(f"Call {intent.number}", intent.number),
                variables={
                    "IMPLUS_DIAL": intent.number,
                    "IMPLUS_AGENT": intent.agent,
                    "IMPLUS_SESSION": intent.session,
                    "IMPLUS_OFFER": intent.offer,
                    "IMPLUS_CALL": intent.leg,
                },
            )
        except AmiActionFailed:
            return False
        return True

    async def _variables(self, intent: do.ReadVariables) -> dict[str, str] | None:
        listed = self.listed_variables.get(intent.channel, {})
        out: dict[str, str] = {}
        for name in intent.names:
            var = VARIABLES.get(name)
            if var is None:
                continue
            value = listed.get(var)
            if value is None:
                value = await self.pbx.getvar(intent.channel, var)
                if value is None:
                    return None  # gone
            if value:
                out[name] = value
            elif name == "entry":
                return out  # not at one of our entry points: nothing more to read
        return out
