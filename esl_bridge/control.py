"""Call control's intents (`callflow.intents`) carried out with ESL commands.

FreeSWITCH keeps a held customer in the agent's bridge: `uuid_hold <agent leg>` sends the
agent's phone a hold re-INVITE and plays the agent leg's `hold_music` to its partner (the
customer); `uuid_hold off` ends both. A consult separates them: the customer is parked
(`uuid_transfer park inline`, hold music by `uuid_broadcast` when it parks), the agent leg
- marked `park_after_bridge` so it survives the consult's end - is bridged with the
consulted party's leg, which the bridge originates into `park` (`implus_consult` tags it).
Completing bridges the customer with that leg (`uuid_bridge`: its old partner, the agent,
parks) and hangs the agent up. A supervisor listens with `eavesdrop` on the agent leg; its
modes are eavesdrop's DTMF (0 listen, 2 speak with the agent, 3 three-way), received on
the supervisor's leg with `uuid_recv_dtmf`. Recording is `uuid_record <caller> start`.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from callflow import intents as do
from callflow.policy import SPY_RING_S, whole_ring_seconds

from .pbx import FreeSwitch, UnsafeValue, originate, safe

log = logging.getLogger("esl_bridge")

PATH = re.compile(r"^/[A-Za-z0-9_./-]{1,250}$")
"""A recording's path: absolute, nothing FreeSWITCH or a shell could read as syntax."""
MUSIC = re.compile(r"^[A-Za-z0-9_.:/@+-]{1,200}$")
DEFAULT_MUSIC = "local_stream://moh"

SPY_DIGITS = {"listen": "0", "whisper": "2", "barge": "3"}
"""eavesdrop's DTMF: 0 restores listening, 2 speaks with the eavesdropped (agent) leg, 3
joins the three of them."""


class EslControl:
    """Carries out the call-control intents on one FreeSWITCH."""

    def __init__(self, fs: FreeSwitch) -> None:
        self.fs = fs

    def __call__(self, intent: do.Intent) -> Any:
        try:
            return self._do(intent)
        except UnsafeValue as e:  # nothing was sent: the call goes on as it was
            log.error("not sent to FreeSWITCH: %s", e)
            return "failed" if isinstance(intent, do.HoldCustomer) else False

    def _do(self, intent: do.Intent) -> Any:
        fs = self.fs
        if isinstance(intent, do.HoldCustomer):
            agent = safe(intent.leg, "channel uuid")
            music = intent.music if MUSIC.match(intent.music) else DEFAULT_MUSIC
            fs.api_ok(f"uuid_setvar {agent} hold_music {music}")
            return "bridged" if fs.api_ok(f"uuid_hold {agent}") else "failed"
        if isinstance(intent, do.ResumeCustomer):
            caller, agent = safe(intent.call_id, "channel uuid"), safe(intent.leg, "channel uuid")
            if intent.apart:
                return fs.background_ok(f"uuid_bridge {caller} {agent}")
            return fs.api_ok(f"uuid_hold off {agent}")
        if isinstance(intent, do.MuteAgent):
            agent = safe(intent.leg, "channel uuid")
            how = "start read mute 1" if intent.on else "stop"
            return fs.api_ok(f"uuid_audio {agent} {how}")
        if isinstance(intent, do.DialConsult):
            return self._dial_consult(intent)
        if isinstance(intent, do.ConnectConsult):
            agent, other = safe(intent.leg, "channel uuid"), safe(intent.consult_leg, "uuid")
            return fs.background_ok(f"uuid_bridge {agent} {other}")
        if isinstance(intent, do.DropConsult):
            fs.kill(intent.consult_leg, "NORMAL_CLEARING")  # the agent leg parks
            return None
        if isinstance(intent, do.CompleteConsult):
            caller, other = safe(intent.call_id, "channel uuid"), safe(intent.consult_leg, "uuid")
            if not fs.background_ok(f"uuid_bridge {caller} {other}"):
                return False
            fs.kill(intent.leg)  # parked by park_after_bridge when its partner left
            return True
        if isinstance(intent, do.TransferOut):
            caller = safe(intent.call_id, "channel uuid")
            if not fs.api_ok(f"uuid_setvar {caller} implus_dial {safe(intent.number, 'number')}"):
                return False
            moved = fs.background_ok(f"uuid_transfer {caller} {intent.trunk.freeswitch()}")
            fs.kill(intent.leg)
            return moved
        if isinstance(intent, do.StartRecording):
            caller = safe(intent.call_id, "channel uuid")
            if not PATH.match(intent.path) or ".." in intent.path.split("/"):
                return False
            return fs.api_ok(f"uuid_record {caller} start {intent.path}")
        if isinstance(intent, do.Spy):
            return self._spy(intent)
        if isinstance(intent, do.SpyMode):
            if intent.first and intent.mode == "listen":
                return True  # eavesdrop starts listening
            digit = SPY_DIGITS.get(intent.mode)
            if digit is None:
                return False
            return fs.api_ok(f"uuid_recv_dtmf {safe(intent.spy_leg, 'channel uuid')} {digit}")
        raise TypeError(f"unknown intent {intent!r}")

    def _dial_consult(self, intent: do.DialConsult) -> bool:
        fs = self.fs
        caller, agent = safe(intent.call_id, "channel uuid"), safe(intent.leg, "channel uuid")
        if intent.held_in_bridge:
            # The agent must be heard again (no hold re-INVITE) and must outlive the bridges
            # of the consult; the customer waits parked (music when it parks).
            fs.api_ok(f"uuid_hold off {agent}")
            fs.api_ok(f"uuid_setvar {agent} park_after_bridge true")
            if not fs.background_ok(f"uuid_transfer {caller} park inline"):
                return False
        variables: dict[str, str | int] = {
            "origination_uuid": intent.consult_leg,
            "originate_timeout": whole_ring_seconds(intent.seconds),
            "implus_consult": intent.call_id,
            "park_after_bridge": "true",
        }
        try:
            return fs.background(originate(intent.dial, variables))
        except UnsafeValue:
            return False

    def _spy(self, intent: do.Spy) -> bool:
        target = safe(intent.target, "channel uuid")
        variables: dict[str, str | int] = {
            "origination_uuid": intent.spy_leg,
            "originate_timeout": whole_ring_seconds(SPY_RING_S),
            "implus_spy": intent.call_id,
            "implus_supervisor": intent.supervisor,
            "eavesdrop_enable_dtmf": "true",
        }
        try:
            command = originate(intent.dial, variables, then=f"&eavesdrop({target})")
        except UnsafeValue:
            return False
        return self.fs.background(command)
