"""The Asterisk actions the bridge needs, in its own words, over `AmiConnection`.

Nothing here decides anything: ring a leg, hang a channel up, move a caller in the
dialplan, read what Asterisk has now. A channel that is already gone is a normal answer
(False), not an error - calls end while the bridge talks about them.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping

from admin_config.targets import Destination

from . import events as ev
from .connection import AmiConnection
from .errors import AmiActionFailed

_GONE = re.compile(r"no such channel|does not exist|not found|unknown", re.IGNORECASE)
_MOVING = re.compile(r"channel not up", re.IGNORECASE)
_MOVING_TRIES = 6
_MOVING_WAIT_S = 0.05
_NAME_UNSAFE = re.compile(r'[\x00-\x1f"<>\\]')
_NUM_UNSAFE = re.compile(r"[^0-9A-Za-z+*#._@-]")


def caller_id(name: str, number: str) -> str:
    """A `CallerID` header value: `"name" <number>`, with nothing that could break the
    header or the quoting (a caller name comes from the outside world)."""
    number = _NUM_UNSAFE.sub("", number)[:40]
    name = _NAME_UNSAFE.sub("", name).strip()[:60]
    if name and name != number:
        return f'"{name}" <{number}>'
    return f"<{number}>" if number else ""


def leg_id(key: str) -> str:
    """The Uniqueid (Originate `ChannelId`) the bridge gives the leg it rings for `key`
    (an offer or a click-to-call id): the same key always names the same leg, so a
    repeated command cannot ring a second phone and a restarted bridge knows the leg."""
    return f"implus-{key}"


class Asterisk:
    """One PBX, seen through an AMI connection."""

    def __init__(self, conn: AmiConnection) -> None:
        self.conn = conn

    async def originate(
        self,
        dial: str,
        to: Destination,
        *,
        leg: str,
        action_id: str,
        ring_seconds: float,
        caller: str = "",
        variables: Mapping[str, str] | None = None,
    ) -> None:
        """Ring `dial`; once answered the leg runs `to`. Returns when Asterisk queued it;
        the outcome comes as events (OriginateResponse with `action_id`, the leg's
        Uniqueid `leg`)."""
        await self.conn.originate(
            dial,
            context=to.context,
            exten=to.exten,
            priority=int(to.priority),
            channel_id=leg,
            action_id=action_id,
            caller_id=caller or None,
            variables=variables,
            ring_timeout=ring_seconds,
        )

    async def ring_for(self, caller: str, to: Destination, variables: Mapping[str, str]) -> bool:
        """Set `variables` on a waiting caller and Redirect it to `to` (where its own Dial
        rings the agent). The actions are sent back to back without waiting in between
        (Asterisk runs one session's actions in order): one round trip. False if the
        caller is gone."""
        actions = [
            {"Action": "Setvar", "Channel": caller, "Variable": k, "Value": v}
            for k, v in variables.items()
        ]
        actions.append(
            {
                "Action": "Redirect",
                "Channel": caller,
                "Context": to.context,
                "Exten": to.exten,
                "Priority": str(to.priority),
            }
        )
        results = await asyncio.gather(
            *(self._on_channel(a) for a in actions), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return all(results)

    async def hangup(self, uniqueid: str, cause: int = 16) -> bool:
        """Hang up a channel by Uniqueid; False if it is already gone."""
        return await self._on_channel(
            {"Action": "Hangup", "Channel": uniqueid, "Cause": str(cause)}
        )

    async def redirect(self, uniqueid: str, to: Destination) -> bool:
        """Move a channel to a dialplan place: it stops what it does (hold music, a Dial
        ringing an agent); a channel in a Dial's bridge leaves it, and the other party is
        hung up. False if the channel is gone."""
        return await self._on_channel(
            {
                "Action": "Redirect",
                "Channel": uniqueid,
                "Context": to.context,
                "Exten": to.exten,
                "Priority": str(to.priority),
            }
        )

    async def redirect_both(
        self, uniqueid: str, to: Destination, other: str, other_to: Destination
    ) -> bool:
        """Move two channels at once (one Redirect with ExtraChannel): two channels bridged
        together both leave the bridge and go on in the dialplan (nobody is hung up)."""
        return await self._on_channel(
            {
                "Action": "Redirect",
                "Channel": uniqueid,
                "Context": to.context,
                "Exten": to.exten,
                "Priority": str(to.priority),
                "ExtraChannel": other,
                "ExtraContext": other_to.context,
                "ExtraExten": other_to.exten,
                "ExtraPriority": str(other_to.priority),
            }
        )

    async def bridge(self, one: str, other: str) -> bool:
        """Join two live channels in a new bridge (each goes on at its next priority when
        the bridge ends). False if either is gone."""
        return await self._on_channel({"Action": "Bridge", "Channel1": one, "Channel2": other})

    async def mute(self, uniqueid: str, on: bool) -> bool:
        """Mute (or unmute) the audio a channel sends in (what its phone says)."""
        return await self._on_channel(
            {
                "Action": "MuteAudio",
                "Channel": uniqueid,
                "Direction": "in",
                "State": "on" if on else "off",
            }
        )

    async def mixmonitor(self, uniqueid: str, path: str) -> bool:
        """Record a channel's audio, both directions mixed, into `path` until it hangs up."""
        return await self._on_channel({"Action": "MixMonitor", "Channel": uniqueid, "File": path})

    async def receive_dtmf(self, uniqueid: str, digit: str) -> bool:
        """A DTMF digit as if the channel's phone had sent it (PlayDTMF Receive)."""
        return await self._on_channel(
            {"Action": "PlayDTMF", "Channel": uniqueid, "Digit": digit, "Receive": "true"}
        )

    async def getvar(self, uniqueid: str, name: str) -> str | None:
        """A channel variable (None if the channel is gone)."""
        try:
            reply = await self.conn.send_action(
                {"Action": "Getvar", "Channel": uniqueid, "Variable": name}
            )
        except AmiActionFailed as e:
            if _GONE.search(e.message):
                return None
            raise
        return str(reply.get("Value") or "")

    async def channels(self) -> dict[str, ev.CoreShowChannel]:
        """Every live channel by Uniqueid."""
        items = await self.conn.list_action({"Action": "CoreShowChannels"})
        return {i.uniqueid: i for i in items if isinstance(i, ev.CoreShowChannel)}

    async def device_states(self) -> dict[str, str]:
        """PJSIP device states Asterisk has recorded, by endpoint (DeviceStateList lists
        only devices whose state was ever set)."""
        items = await self.conn.list_action({"Action": "DeviceStateList"})
        out = {}
        for item in items:
            if isinstance(item, ev.DeviceStateChange):
                tech, _, endpoint = item.device.partition("/")
                if tech.upper() == "PJSIP" and endpoint:
                    out[endpoint] = item.state
        return out

    async def device_state(self, endpoint: str) -> str:
        """One endpoint's device state, computed now (`DEVICE_STATE()` via Getvar)."""
        reply = await self.conn.send_action(
            {"Action": "Getvar", "Variable": f"DEVICE_STATE(PJSIP/{endpoint})"}
        )
        return str(reply.get("Value") or "UNKNOWN")

    async def _on_channel(self, action: Mapping[str, str]) -> bool:
        for attempt in range(_MOVING_TRIES):
            try:
                await self.conn.send_action(action)
            except AmiActionFailed as e:
                if _GONE.search(e.message):
                    return False
                if _MOVING.search(e.message) and attempt < _MOVING_TRIES - 1:
                    # A Redirect refused while the channel's previous move (a Redirect's or
                    # Bridge's async goto) is still pending as a soft hang-up: Asterisk says
                    # "channel not up" for a few ms (a consult right after a resume, CI at
                    # 26db9e2). A channel really hanging up is gone by the next try.
                    await asyncio.sleep(_MOVING_WAIT_S)
                    continue
                raise
            return True
        raise AssertionError("unreachable")
