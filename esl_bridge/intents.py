"""The call flow's intents (`callflow.intents`) carried out with ESL commands.

FreeSWITCH rings an agent by originating the agent's leg (under the UUID the bridge chose)
into `park`; once the router accepted, `uuid_bridge` connects it with the parked caller.
The dialplan arms a safety net on every caller (`sched_transfer` to the entry's overflow
after max wait + hold margin): it is cancelled when the caller is connected and armed again
when the caller goes back on hold. Hold music is `uuid_broadcast` (which makes `show
channels` list the caller with `application=playback`). docs/call-flow.md has the
dialplan side.
"""

from __future__ import annotations

import re
from typing import Any

from admin_config.model import AdminConfig
from admin_config.targets import overflow_destination
from callflow import intents as do
from callflow.policy import whole_ring_seconds

from .control import EslControl
from .pbx import SAFE_VALUE, FreeSwitch, UnsafeValue, originate, safe

MUSIC = re.compile(r"^[^\s'\"]{1,256}$")
DEFAULT_MUSIC = "local_stream://moh"


class EslIntents:
    """Carries out intents on one FreeSWITCH."""

    def __init__(self, fs: FreeSwitch, config: AdminConfig) -> None:
        self.fs = fs
        self.config = config
        self.control = EslControl(fs)

    def __call__(self, intent: do.Intent) -> Any:
        fs = self.fs
        if isinstance(intent, do.RingAgent):
            return self._ring(intent)
        if isinstance(intent, do.DropAgentLeg):
            fs.kill(intent.leg, intent.cause)
            return None
        if isinstance(intent, do.Connect):
            return self._connect(intent)
        if isinstance(intent, do.ReturnToHold):
            return self._return_to_hold(intent)
        if isinstance(intent, do.PlayHold):
            music = intent.music if MUSIC.match(intent.music) else DEFAULT_MUSIC
            # nothing acts on its outcome: not waited for (a refusal is logged)
            fs.send_off(f"uuid_broadcast {safe(intent.call_id, 'channel uuid')} {music} aleg")
            return None
        if isinstance(intent, do.SendToOverflow):
            uuid = safe(intent.call_id, "channel uuid")
            return fs.background_ok(f"uuid_transfer {uuid} {intent.to.freeswitch()}")
        if isinstance(intent, do.HangUp):
            fs.kill(intent.channel, intent.cause)
            return None
        if isinstance(intent, do.PlaceAgentFirst):
            return self._place(intent)
        if isinstance(intent, do.DialCustomer):
            uuid = safe(intent.leg, "channel uuid")
            return fs.background_ok(f"uuid_transfer {uuid} {intent.trunk.freeswitch()}")
        if isinstance(intent, do.ChannelExists):
            return fs.exists(intent.channel)
        if isinstance(intent, do.ReadVariables):
            return self._variables(intent)
        return self.control(intent)

    def _ring(self, intent: do.RingAgent) -> do.RingResult:
        variables: dict[str, str | int] = {
            "origination_uuid": intent.leg,
            "originate_timeout": whole_ring_seconds(intent.seconds),
            "implus_agent": intent.agent,
            "implus_offer": intent.offer,
            "implus_caller": intent.call_id,
            "implus_request": intent.request,
        }
        if SAFE_VALUE.match(intent.caller_number):
            variables["origination_caller_id_number"] = intent.caller_number
        try:
            command = originate(intent.dial, variables)
        except UnsafeValue:
            return "failed"
        return "ringing" if self.fs.background(command) else "failed"

    def _connect(self, intent: do.Connect) -> do.ConnectResult:
        fs = self.fs
        caller, leg = safe(intent.call_id, "channel uuid"), safe(intent.leg, "channel uuid")
        # the safety net goes (a connected caller stays), then the bridge: one write
        if fs.api_then_background_ok(f"sched_del {caller}", f"uuid_bridge {caller} {leg}"):
            return "bridged"
        return "caller_gone" if fs.exists(caller) is False else "agent_gone"

    def _return_to_hold(self, intent: do.ReturnToHold) -> bool:
        fs = self.fs
        caller = safe(intent.call_id, "channel uuid")
        moved = fs.background_ok(f"uuid_transfer {caller} park inline")
        fs.kill(intent.leg)
        self._arm_safety_net(caller, intent.entry, intent.max_wait)
        return moved

    def _arm_safety_net(self, caller: str, entry: str, max_wait: int) -> None:
        """`sched_transfer` to the overflow again, as the entry's dialplan did."""
        try:
            target = overflow_destination(self.config, entry)
            wait = max_wait or self.config.entry_point(entry).max_wait
        except KeyError:
            return
        wait += self.config.hold_margin
        self.fs.api_ok(f"sched_del {caller}")
        self.fs.api_ok(f"sched_transfer +{wait} {caller} {target.freeswitch()}")

    def _place(self, intent: do.PlaceAgentFirst) -> bool:
        variables: dict[str, str | int] = {
            "origination_uuid": intent.leg,
            "originate_timeout": whole_ring_seconds(intent.seconds),
            "implus_agent": intent.agent,
            "implus_dial": intent.number,
            "implus_session": intent.session,
            "origination_caller_id_number": intent.number,
        }
        if intent.offer:
            variables["implus_offer"] = intent.offer
        try:
            return self.fs.background(originate(intent.dial, variables))
        except UnsafeValue:
            return False

    def _variables(self, intent: do.ReadVariables) -> dict[str, str] | None:
        out: dict[str, str] = {}
        for name in intent.names:
            value = self.fs.getvar(intent.channel, f"implus_{name}")
            if value is None:
                return None  # gone
            if value:
                out[name] = value
            elif name == "entry":
                return out  # not at one of our entry points: nothing more to read
        return out
