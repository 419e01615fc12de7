"""A live channel of the fake switch (a leg), and how `show channels` lists it."""

from __future__ import annotations

import copy
import threading
import time
from dataclasses import dataclass, field, fields

from .rendering import LegView


@dataclass
class Leg(LegView):
    """A live channel: what events show of it (LegView), and the model's own state."""

    direction: str = "inbound"  # or outbound
    state: str = "ringing"  # ringing | answering | parked | bridging | bridged | gone
    bridge_side: str = ""  # "a" or "b": the argument order of uuid_bridge
    peer: Leg | None = None
    dialing: Leg | None = None
    """The B leg the `bridge` application is ringing for this leg."""
    playing: str = ""
    """What `uuid_broadcast` plays on this parked leg (hold music): a real FreeSWITCH then
    lists it with `application=playback` (recording 07), not `park`."""
    eavesdrop: str = ""
    """The channel this leg listens to (`originate ... &eavesdrop(<uuid>)`)."""
    killed: threading.Event = field(default_factory=threading.Event)

    @property
    def channel_name(self) -> str:
        return f"sofia/{self.profile}/{self.number}@{self.host}"

    def view(self) -> LegView:
        """A snapshot for rendering one event."""
        return LegView(**{f.name: copy.copy(getattr(self, f.name)) for f in fields(LegView)})

    def mark(self, what: str) -> None:
        self.times[what] = time.time_ns() // 1000


def parks_after_bridge(leg: Leg) -> bool:
    """The channel variable park_after_bridge: when its bridge ends, the leg parks instead
    of hanging up (mod_dptools / switch_ivr_bridge)."""
    return dict(leg.variables).get("park_after_bridge", "").lower() == "true"


def channel_row(leg: Leg, hostname: str) -> dict[str, str]:
    """`leg` as a row of `show channels` (api.CHANNEL_COLUMNS), on switch `hostname`."""
    created = leg.times.get("created", 0)
    live = leg.state in ("parked", "bridged", "answering", "bridging")
    inbound = leg.direction == "inbound"
    playing = bool(leg.playing) and leg.state == "parked"
    codec = ("PCMU", "8000", "64000") if live or inbound else ("", "", "")
    return {
        "uuid": leg.uuid,
        "direction": leg.direction,
        "created": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(created / 1e6)),
        "created_epoch": str(created // 1_000_000),
        "name": leg.channel_name,
        "state": "CS_EXECUTE" if live else "CS_CONSUME_MEDIA",
        "cid_name": leg.name if inbound else "Outbound Call",
        "cid_num": leg.number if inbound else "0000000000",
        "ip_addr": leg.host.partition(":")[0] if inbound else "",
        "dest": leg.destination if inbound else leg.number,
        "application": ("playback" if playing else "park") if live else "",
        "application_data": leg.playing if playing else "",
        "dialplan": "XML",
        "context": "default",
        "read_codec": codec[0],
        "read_rate": codec[1],
        "read_bit_rate": codec[2],
        "write_codec": codec[0],
        "write_rate": codec[1],
        "write_bit_rate": codec[2],
        "secure": "",
        "hostname": hostname,
        "presence_id": "",
        "presence_data": "",
        "accountcode": "",
        "callstate": "ACTIVE" if live else "RINGING",
        "callee_name": "" if inbound else "Outbound Call",
        "callee_num": "" if inbound else leg.number,
        "callee_direction": "",
        "call_uuid": leg.peer.uuid if leg.peer is not None and not inbound else "",
        "sent_callee_name": "",
        "sent_callee_num": "",
        "initial_cid_name": leg.name if inbound else "Outbound Call",
        "initial_cid_num": leg.number if inbound else "0000000000",
        "initial_ip_addr": leg.host.partition(":")[0] if inbound else "",
        "initial_dest": leg.destination if inbound else leg.number,
        "initial_dialplan": "XML",
        "initial_context": "default",
    }
