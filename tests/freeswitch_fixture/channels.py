"""The live channels of the fake switch and their transitions, each firing the recorded events
of its step (sequences.py): ringing an outbound leg, bridging two legs, a leg leaving its
bridge, parking again, hanging up.

States of a leg: ringing -> answering -> parked <-> bridging -> bridged -> gone, plus
`transferred` (it left park for the dialplan) and `eavesdropping`. Transitions run with
`lock` held (`call_out` lets it go while the phone rings); the API commands (commands.py), the dialplan runner (dialplan_runner.py)
and call control (control.py) act through these methods, and the test through CallModel.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from .dialplan import Dialplan
from .events import FsEvent
from .leg import Leg, parks_after_bridge
from .phones import Answer, Behaviour, Phone, Unreachable, ring
from .rendering import Renderer
from .sequences import (
    BRIDGE_A,
    BRIDGE_B,
    BRIDGE_BOTH,
    BRIDGED_HANGUP_BY_A,
    BRIDGED_HANGUP_BY_B,
    ORIGINATE_ANSWER,
    ORIGINATE_RING,
    PARKED_CALLER_HANGUP,
    outbound_hangup_sequence,
    unbridged_outbound,
)
from .templates import RECORDINGS, Template, strip_other_leg, template

if TYPE_CHECKING:
    from .server import FakeFreeSwitch


class Channels:
    """The switch's live legs (by UUID), the phones it can ring, what tests assert on, and
    the transitions between a leg's states."""

    def __init__(self, server: FakeFreeSwitch) -> None:
        self.server = server
        self.renderer = Renderer(server.events)
        self.lock = threading.RLock()
        self.legs: dict[str, Leg] = {}
        self.phones: dict[str, Phone] = {}
        self.broadcasts: list[tuple[str, str, str]] = []
        """(uuid, what, leg) of every uuid_broadcast (hold music), for assertions."""
        self.transfers: list[tuple[str, str]] = []
        """(uuid, destination) of every uuid_transfer; the test plays what follows."""
        self.scheduled: dict[str, str] = {}
        """Channel -> the destination of its pending scheduled transfer (the entry dialplan's
        safety net, `sched_transfer`); `sched_del <uuid>` removes it."""
        self.dialplan: Dialplan | None = None
        """The generated dialplan the switch follows (`use_dialplan`); without it, transfers
        are only recorded and the test plays what the dialplan would do."""
        self.executed: list[tuple[str, str, str]] = []
        """(uuid, application, data) of every dialplan action run by the fake switch."""
        self.custom_events: list[FsEvent] = []
        """Every CUSTOM event fired by the `event` application (implus::overflow, ...)."""
        self.rung: list[tuple[str, str]] = []
        """(profile, user) of every phone an outbound leg rang, in order: `internal` for an
        agent's phone, the gateway's name for a number dialled through a trunk."""
        self.trunk_phone: Behaviour | None = None
        """How numbers dialled through a gateway answer when no phone was added for them
        (None: nothing answers there, NORMAL_TEMPORARY_FAILURE)."""
        self.on_gone: list[Callable[[Leg], None]] = []
        """Called (lock held) for every channel that ends (call control: recordings,
        eavesdroppers of the channel)."""

    def hangup(self, uuid: str, cause: str = "NORMAL_CLEARING") -> None:
        """The far end of channel `uuid` hangs up (the customer, or the agent's phone)."""
        with self.lock:
            leg = self.legs.get(uuid)
            if leg is None:
                raise KeyError(f"no channel {uuid}")
            self.end(leg, cause)

    def emit(
        self, ref: tuple[str, int] | Template, leg: Leg, peer: Leg | None = None, **kwargs: object
    ) -> None:
        """Fire event `ref` (a recording's message, or a template) of `leg`, whose bridge
        partner or originating caller is `peer`; `kwargs` go to Renderer.render."""
        tpl = template(*ref) if isinstance(ref, tuple) else ref
        rec = RECORDINGS[tpl.recording]
        plays_agent = tpl.get("Unique-ID") == rec.agent_uuid
        caller, agent = (peer, leg) if plays_agent else (leg, peer)
        event = self.renderer.render(
            tpl,
            caller=caller.view() if caller else None,
            agent=agent.view() if agent else None,
            **kwargs,  # type: ignore[arg-type]
        )
        self.server.fire(event)

    def end(self, leg: Leg, cause: str) -> None:
        """Hang `leg` up (and its bridged peer), firing the events of its situation."""
        if leg.state == "ringing":
            leg.cause = cause
            leg.killed.set()  # the originate in progress does the rest
            return
        if leg.state == "gone":
            return
        was_transferred = leg.state in ("transferred", "eavesdropping")
        if leg.state in ("bridging", "answering", "transferred", "eavesdropping"):
            leg.state = "parked"
        if leg.state == "bridged" and leg.peer is not None:
            self._end_bridge(leg, cause)
            return
        leg.cause = cause
        leg.mark("hangup")
        if leg.direction == "inbound":
            script = PARKED_CALLER_HANGUP
            if was_transferred:  # it left park already
                script = [ref for ref in script if ref not in (("03", 18), ("03", 19))]
            for ref in script:
                self.emit(ref, leg, cause_of=leg.view())
        else:
            if leg.dialing is not None:  # the `bridge` application is ringing its B leg
                self.end(leg.dialing, "ORIGINATOR_CANCEL")
            unpark = (
                [] if was_transferred else [unbridged_outbound(template("04", i)) for i in (38, 39)]
            )
            for tpl in [*unpark, *outbound_hangup_sequence("ACTIVE")]:
                self.emit(tpl, leg, cause_of=leg.view())
        self._gone(leg)

    def _end_bridge(self, first: Leg, cause: str) -> None:
        """`first` hangs up a bridged call: its partner parks (park_after_bridge) or ends too."""
        peer = first.peer
        if peer is None:
            return
        if parks_after_bridge(peer):  # the other leg survives: it parks
            self.detach(peer)
            self.end(first, cause)
            return
        a, b = (first, peer) if first.bridge_side == "a" else (peer, first)
        first.cause = cause
        other = b if first is a else a
        other.cause = "NORMAL_CLEARING"
        a.mark("hangup")
        b.mark("hangup")
        script = BRIDGED_HANGUP_BY_A if first is a else BRIDGED_HANGUP_BY_B
        for who, index in script:
            leg, peer = (a, b) if who == "a" else (b, a)
            self.emit(("04", index), leg, peer, cause_of=leg.view())
        self._gone(a)
        self._gone(b)

    def _gone(self, leg: Leg) -> None:
        """`leg` has ended: forget it and tell the `on_gone` hooks."""
        leg.state = "gone"
        leg.peer = None
        self.legs.pop(leg.uuid, None)
        for hook in self.on_gone:
            hook(leg)

    def call_out(self, leg: Leg, behaviour: Behaviour, timeout: float) -> bool:
        """Ring the new outbound `leg` (04's events; 05's when nothing answers) until it is
        answered (True, state "answering") or fails (False, hung up with its cause)."""
        with self.lock:
            leg.mark("created")
            self.rung.append((leg.profile, leg.number))
            rings = not isinstance(behaviour, Unreachable)
            for ref in ORIGINATE_RING if rings else ORIGINATE_RING[:5]:
                if ref == ("04", 23):
                    leg.mark("progress")
                if ref == ("04", 19) and not isinstance(behaviour, Answer):
                    ref = ("05", 4)  # the CHANNEL_CREATE of the leg that failed in 05
                self.emit(ref, leg)
        outcome = ring(leg, behaviour, timeout)
        with self.lock:
            if outcome is not None or leg.killed.is_set():
                leg.cause = leg.cause or outcome
                leg.mark("hangup")
                for tpl in outbound_hangup_sequence("RINGING" if rings else "DOWN"):
                    self.emit(tpl, leg, cause_of=leg.view())
                self._gone(leg)
                return False
            leg.mark("answered")
            for ref in ORIGINATE_ANSWER:
                self.emit(ref, leg)
            leg.state = "answering"
        return True

    def bridge(self, a: Leg, b: Leg) -> None:
        """Bridge `a` (the caller side, uuid_bridge's first argument) with `b` (04's events)."""
        with self.lock:
            for ref in BRIDGE_A:
                self.emit(ref, a, b)
            for ref in BRIDGE_B:
                self.emit(ref, b, a)
            a.peer, b.peer = b, a
            a.bridge_side, b.bridge_side = "a", "b"
            a.mark("bridged")
            b.mark("bridged")
            for ref in BRIDGE_BOTH:
                leg, peer = (b, a) if ref == ("04", 44) or ref == ("04", 46) else (a, b)
                self.emit(ref, leg, peer)
            a.state = b.state = "bridged"

    def detach(self, leg: Leg) -> None:
        """`leg`'s partner left their bridge (transferred, bridged elsewhere, or hung up while
        this leg has park_after_bridge): CHANNEL_UNBRIDGE (04), then the leg parks if it has
        park_after_bridge, else it hangs up. Lock held."""
        peer = leg.peer
        if peer is not None:
            self.emit(("04", 53), leg, peer)
            leg.peer = None
            if peer.peer is leg:
                peer.peer = None
        leg.state = "parked"
        if parks_after_bridge(leg):
            park = ("03", 16) if leg.direction == "inbound" else ("04", 30)
            self.emit(strip_other_leg(template(*park)), leg)
        else:
            self.end(leg, "NORMAL_CLEARING")

    def park_again(self, leg: Leg) -> None:
        """`uuid_transfer <uuid> park inline`: `leg` parks anew, leaving its bridge if it is in
        one (CHANNEL_UNBRIDGE, then CHANNEL_PARK; its partner stays parked)."""
        with self.lock:
            leg.playing = ""  # parked anew: the bridge starts the music again
            peer = leg.peer
            if peer is not None:
                self.emit(("04", 53), leg, peer)  # CHANNEL_UNBRIDGE of the caller (04)
                leg.peer = peer.peer = None
                peer.state = "parked"
            elif leg.state == "parked":
                self.emit(strip_other_leg(template("04", 33)), leg)
            park = ("03", 16) if leg.direction == "inbound" else ("04", 30)
            self.emit(strip_other_leg(template(*park)), leg)
            leg.state = "parked"
