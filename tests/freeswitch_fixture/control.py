"""The fake switch's call-control commands, as mod_commands of FreeSWITCH 1.10/1.11 answers
them: `uuid_hold [off]`, `uuid_audio`, `uuid_setvar`, `uuid_record`, `uuid_recv_dtmf`
(and, in commands.py, `originate ... &eavesdrop(<uuid>)`, bridged legs in `uuid_bridge` /
`uuid_transfer`, `park_after_bridge`).

Reply texts follow mod_commands.c (uuid_hold: "+OK Success" - even for a channel that is
gone, switch_ivr_hold_uuid does not fail; uuid_audio: "+OK", and for a missing channel
"-ERR No Such Channel!" followed by "+OK", as its `goto done` writes both; uuid_record:
"+OK Success" / "-ERR Cannot locate session!"; uuid_setvar: "+OK" / "-ERR No such
channel!"). uuid_recv_dtmf was not found in the sources at hand: it answers as
uuid_send_dtmf does ("+OK Success" / "-ERR Cannot locate session!"); the bridge only
tells +OK from -ERR. No event is fired for these commands: the bridge does not subscribe to
CHANNEL_HOLD / RECORD_START, and nothing was recorded for them.

A recording is written when its channel ends: a WAV (8 kHz, 16-bit, mono, silence) as
long as the channel was recorded, at the path the command named - what record_session
leaves behind, so tests can check the file, its header and its length.
"""

from __future__ import annotations

import time
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .channels import Channels
    from .leg import Leg

AUDIO_USAGE = "-USAGE: <uuid> [start [read|write] [mute|level <level>]|stop]\n"
RECORD_USAGE = "-USAGE: <uuid> [start|stop|mask|unmask] <path> [<limit>]\n"


@dataclass
class Recording:
    uuid: str
    path: str
    started: float
    stopped: float = 0.0


class CallControlModel:
    """Registers the commands on the switch; state for the tests' assertions."""

    def __init__(self, channels: Channels) -> None:
        self.channels = channels
        self.held: set[str] = set()
        """Channels `uuid_hold` put on hold (their partner hears hold music)."""
        self.muted: set[str] = set()
        """Channels whose read audio `uuid_audio ... mute` silences."""
        self.dtmf: list[tuple[str, str]] = []
        """(uuid, digits) received with `uuid_recv_dtmf`."""
        self.recordings: list[Recording] = []
        channels.server.api_handlers.update(
            {
                "uuid_hold": self._uuid_hold,
                "uuid_audio": self._uuid_audio,
                "uuid_setvar": self._uuid_setvar,
                "uuid_record": self._uuid_record,
                "uuid_recv_dtmf": self._uuid_recv_dtmf,
            }
        )
        channels.on_gone.append(self._gone)

    def _leg(self, uuid: str) -> Leg | None:
        return self.channels.legs.get(uuid)

    def _uuid_hold(self, arg: str | None) -> str:
        words = (arg or "").split()
        if not words:
            return "-USAGE: [off] <uuid> [<display>]\n"
        off = words[0].lower() == "off"
        uuid = words[1] if off and len(words) > 1 else ("" if off else words[0])
        with self.channels.lock:
            leg = self._leg(uuid)
            if leg is None:
                return "+OK Success\n"  # switch_ivr_(un)hold_uuid succeeds for a gone channel
            peer = leg.peer
            if off:
                self.held.discard(uuid)
                if peer is not None:
                    peer.playing = ""  # switch_channel_stop_broadcast on the partner
            else:
                self.held.add(uuid)
                music = dict(leg.variables).get("hold_music", "")
                if music and peer is not None:  # switch_ivr_broadcast to the partner
                    self.channels.broadcasts.append((peer.uuid, music, "aleg"))
                    peer.playing = music
        return "+OK Success\n"

    def _uuid_audio(self, arg: str | None) -> str:
        words = (arg or "").split()
        if len(words) < 2:
            return AUDIO_USAGE
        with self.channels.lock:
            if self._leg(words[0]) is None:
                return "-ERR No Such Channel!\n+OK\n"
            if words[1].lower() == "stop":
                self.muted.discard(words[0])
                return "+OK\n"
            if words[1].lower() != "start" or len(words) < 5 or words[2] not in ("read", "write"):
                return AUDIO_USAGE
            if words[3] == "mute":
                (self.muted.add if words[4] != "0" else self.muted.discard)(words[0])
            elif words[3] != "level":
                return AUDIO_USAGE
        return "+OK\n"

    def _uuid_setvar(self, arg: str | None) -> str:
        words = (arg or "").split(" ", 2)
        if len(words) < 2 or not words[0]:
            return "-USAGE: <uuid> <var> [value]\n"
        with self.channels.lock:
            leg = self._leg(words[0])
            if leg is None:
                return "-ERR No such channel!\n"
            value = words[2] if len(words) > 2 else ""
            leg.variables = [*(v for v in leg.variables if v[0] != words[1]), (words[1], value)]
        return "+OK\n"

    def _uuid_record(self, arg: str | None) -> str:
        words = (arg or "").split()
        if len(words) < 3:
            return RECORD_USAGE
        uuid, action, path = words[:3]
        with self.channels.lock:
            if self._leg(uuid) is None:
                return "-ERR Cannot locate session!\n"
            if action == "start":
                self.recordings.append(Recording(uuid, path, time.time()))
            elif action == "stop":
                for r in self.recordings:
                    if r.uuid == uuid and r.path == path and not r.stopped:
                        r.stopped = time.time()
                        _write_wav(r)
            else:
                return RECORD_USAGE
        return "+OK Success\n"

    def _uuid_recv_dtmf(self, arg: str | None) -> str:
        words = (arg or "").split()
        if len(words) < 2:
            return "-USAGE: <uuid> <dtmf_data>\n"
        with self.channels.lock:
            if self._leg(words[0]) is None:
                return "-ERR Cannot locate session!\n"
            self.dtmf.append((words[0], words[1]))
        return "+OK Success\n"

    def _gone(self, leg: Leg) -> None:
        """A channel ended: its recordings are complete; whoever listened to it stops."""
        for r in self.recordings:
            if r.uuid == leg.uuid and not r.stopped:
                r.stopped = time.time()
                _write_wav(r)
        self.held.discard(leg.uuid)
        self.muted.discard(leg.uuid)
        for spy in [x for x in self.channels.legs.values() if x.eavesdrop == leg.uuid]:
            spy.eavesdrop = ""
            self.channels.end(spy, "NORMAL_CLEARING")  # eavesdrop returns: the leg hangs up


def _write_wav(r: Recording) -> None:
    path = Path(r.path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = int((r.stopped - r.started) * 8000)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x00" * frames)
