"""The fake FreeSWITCH's call model: entry-point calls, originated legs, bridges, hang-ups.

The test drives the customer side (`inbound_call`, `hangup`) and decides how each phone
answers (`add_phone(user, Answer(after=0.05))`, `Ring()`, `Busy()`, `Unreachable()`...);
the code under test drives the switch over ESL (`bgapi originate`, `uuid_bridge`,
`uuid_kill`, `show channels as json`), exactly as it would a real FreeSWITCH.

Event sequences follow the recordings: an entry-point call is 03 (CHANNEL_STATE ... CHANNEL_PARK,
one `set` per dialplan variable), an answered originate and a bridge are 04, a failed
originate is 05; see templates.py for how recorded events become this call's events.
"""

from __future__ import annotations

import copy
import re
import threading
import time
import uuid as uuid_module
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING

from .dialplan import Action, Dialplan, expand
from .events import FsEvent
from .rendering import LegView, Renderer
from .templates import (
    RECORDINGS,
    Template,
    cut_variables_from,
    retitle,
    strip_other_leg,
    template,
)

if TYPE_CHECKING:
    from .server import FakeFreeSwitch

ApiResult = str | tuple[str, Callable[[], None]]

# -- how a phone (an agent's, or a customer's behind a gateway) reacts to an INVITE -------------


@dataclass(frozen=True)
class Answer:
    """Rings, then answers after `after` seconds."""

    after: float = 0.05


@dataclass(frozen=True)
class Ring:
    """Rings until the originate gives up (`originate_timeout`): NO_ANSWER."""


@dataclass(frozen=True)
class Busy:
    """Answers 486 Busy Here (after ringing `ring_for` seconds): USER_BUSY."""

    ring_for: float = 0.0


@dataclass(frozen=True)
class Reject:
    """Refuses with `cause` (after ringing `ring_for` seconds), e.g. CALL_REJECTED."""

    cause: str = "CALL_REJECTED"
    ring_for: float = 0.0


@dataclass(frozen=True)
class Unreachable:
    """Nothing answers at the address: NORMAL_TEMPORARY_FAILURE at once (recording 05)."""


Behaviour = Answer | Ring | Busy | Reject | Unreachable


@dataclass
class Phone:
    """A SIP phone the switch can reach: an agent's extension or a customer's number."""

    user: str
    behaviour: Behaviour
    registered: bool
    domain: str
    contact_host: str


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


# -- event sequences, by recording and message index --------------------------------------------

INBOUND_UNTIL_SET = [("03", i) for i in (3, 4, 5, 6, 7, 8)]
INBOUND_SET = (("03", 9), ("03", 10))
INBOUND_ANSWER_PARK = [("03", i) for i in (11, 12, 13, 14, 15, 16)]
PARKED_CALLER_HANGUP = [("03", i) for i in (17, 18, 19, 20, 21, 22, 23, 24, 25)]
ORIGINATE_RING = [("04", i) for i in (18, 19, 20, 21, 22, 23, 24)]
ORIGINATE_ANSWER = [("04", 25), ("04", 26)]
ORIGINATED_PARK = [("04", i) for i in (28, 29, 30)]
BRIDGE_A = [("04", i) for i in (33, 34, 35, 36, 37)]
BRIDGE_B = [("04", i) for i in (38, 39, 40, 41, 42)]
BRIDGE_BOTH = [("04", 43), ("04", 44), ("04", 45), ("04", 46)]
# The caller (A) hangs up a bridged call: recorded. `a`/`b` say whose event it is.
BRIDGED_HANGUP_BY_A = [
    ("a", 47), ("b", 48), ("b", 49), ("b", 50), ("b", 51), ("b", 52), ("a", 53),
    ("a", 54), ("a", 55), ("a", 56), ("a", 57), ("b", 58), ("a", 59), ("a", 60), ("b", 61),
]  # fmt: skip
# The agent (B) hangs up first: derived order, same events.
BRIDGED_HANGUP_BY_B = [
    ("b", 48), ("b", 49), ("b", 50), ("b", 51), ("b", 52), ("a", 53), ("a", 47),
    ("a", 54), ("a", 55), ("a", 56), ("a", 57), ("b", 58), ("a", 59), ("a", 60), ("b", 61),
]  # fmt: skip


def _unbridged_outbound(base: Template) -> Template:
    """An originated leg's event from the bridged recording, as if never bridged."""
    stripped = strip_other_leg(base)
    # The bridge had given it the caller's id; before, it had the originate's default (05).
    headers = tuple((k, "0000000000" if v == "sipp" else v) for k, v in stripped.headers)
    return replace(stripped, headers=headers)


def _without_first(base: Template, name: str) -> Template:
    names = [k for k, _ in base.headers]
    at = names.index(name)
    return replace(base, headers=base.headers[:at] + base.headers[at + 1 :])


def outbound_hangup_sequence(call_state: str) -> list[Template]:
    """An originated leg that is not bridged hangs up, from `call_state` (DOWN or RINGING if
    it never answered, ACTIVE if it did). 05 recorded CHANNEL_CREATE and _HANGUP_COMPLETE of
    such a leg; the others are derived from it and from the same leg kind in 04."""
    complete = template("05", 5)
    hangup = retitle(
        _without_first(cut_variables_from(complete, "variable_digits_dialed"), "Hangup-Cause"),
        "CHANNEL_HANGUP",
        "switch_channel_perform_hangup",
        3447,
        Channel_State="CS_CONSUME_MEDIA",
        Channel_Call_State=call_state,
        Channel_State_Number="7",
    )
    state_hangup, callstate, reporting = (
        _unbridged_outbound(template("04", i)) for i in (49, 50, 51)
    )
    state_hangup = retitle(state_hangup, Channel_Call_State=call_state)
    callstate = retitle(callstate, Original_Channel_Call_State=call_state)
    destroy = retitle(
        _without_first(complete, "Hangup-Cause"),
        "CHANNEL_DESTROY",
        "switch_core_session_perform_destroy",
        1588,
        Channel_State_Number="12",
    )
    final = _unbridged_outbound(template("04", 61))
    return [hangup, state_hangup, callstate, reporting, complete, destroy, final]


# -- the model ------------------------------------------------------------------------------------


class CallModel:
    """Channels of the fake switch, and the API commands that act on them."""

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
        server.api_handlers.update(
            {
                "originate": self._originate,
                "uuid_bridge": self._uuid_bridge,
                "uuid_kill": self._uuid_kill,
                "uuid_exists": self._uuid_exists,
                "uuid_getvar": self._uuid_getvar,
                "uuid_broadcast": self._uuid_broadcast,
                "uuid_transfer": self._uuid_transfer,
                "sched_del": self._sched_del,
                "sched_transfer": self._sched_transfer,
                "reloadxml": lambda arg: "+OK [Success]\n",
            }
        )
        server.channel_rows = self.rows
        server.registration_rows = self.registration_rows
        from .control import CallControlModel  # call control's commands (uuid_hold...)

        self.control = CallControlModel(self)

    # -- phones -----------------------------------------------------------------------------------

    def add_phone(
        self,
        user: str,
        behaviour: Behaviour | None = None,
        *,
        register: bool = True,
        domain: str = "127.0.0.1",
        contact_host: str = "127.0.0.1:5064",
    ) -> Phone:
        """A phone reachable as `user/<user>` (if registered) or `sofia/<profile>/<user>@<host>`
        or, for a customer, `sofia/gateway/<gateway>/<user>`."""
        phone = Phone(user, behaviour or Answer(), False, domain, contact_host)
        self.phones[user] = phone
        if register:
            self.register(user)
        return phone

    def register(self, user: str) -> None:
        phone = self.phones[user]
        phone.registered = True
        self.server.register(user, phone.domain, phone.contact_host)

    def unregister(self, user: str) -> None:
        phone = self.phones[user]
        phone.registered = False
        self.server.unregister(user, phone.domain, phone.contact_host)

    def set_behaviour(self, user: str, behaviour: Behaviour) -> None:
        self.phones[user].behaviour = behaviour

    # -- the customer side ------------------------------------------------------------------------

    def inbound_call(
        self,
        destination: str = "800",
        caller: str = "+15550100",
        *,
        caller_name: str | None = None,
        variables: dict[str, str] | list[tuple[str, str]] | None = None,
        caller_host: str = "127.0.0.1:5066",
        profile: str = "internal",
        uuid: str | None = None,
    ) -> str:
        """A customer calls entry point `destination`; the dialplan sets `variables` (one
        `set` each, in order), answers and parks. Returns the channel's UUID once parked."""
        pairs = list(variables.items()) if isinstance(variables, dict) else list(variables or [])
        leg = Leg(
            uuid=uuid or str(uuid_module.uuid4()),
            direction="inbound",
            number=caller,
            name=caller_name or caller,
            host=caller_host,
            profile=profile,
            destination=destination,
            variables=pairs,
        )
        with self.lock:
            self.legs[leg.uuid] = leg
            leg.mark("created")
            for ref in INBOUND_UNTIL_SET:
                self._emit(ref, leg, entry_set=0)
            for k, (name, value) in enumerate(pairs):
                self._emit(INBOUND_SET[0], leg, entry_set=k, application_data=f"{name}={value}")
                self._emit(INBOUND_SET[1], leg, entry_set=k + 1, application_data=f"{name}={value}")
            for ref in INBOUND_ANSWER_PARK:
                if ref == ("03", 12):
                    leg.mark("answered")
                self._emit(ref, leg)
            leg.state = "parked"
            self.scheduled.setdefault(leg.uuid, "")
        return leg.uuid

    def hangup(self, uuid: str, cause: str = "NORMAL_CLEARING") -> None:
        """The far end of channel `uuid` hangs up (the customer, or the agent's phone)."""
        with self.lock:
            leg = self.legs.get(uuid)
            if leg is None:
                raise KeyError(f"no channel {uuid}")
            self._end(leg, cause)

    def leg(self, uuid: str) -> Leg | None:
        with self.lock:
            return self.legs.get(uuid)

    def wait_for(self, predicate: Callable[[], object], timeout: float = 10.0) -> None:
        """Wait (this thread) until `predicate()` is true."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"fake FreeSWITCH: condition not met within {timeout} s")
            time.sleep(0.01)

    # -- emitting ---------------------------------------------------------------------------------

    def _emit(
        self, ref: tuple[str, int] | Template, leg: Leg, peer: Leg | None = None, **kwargs: object
    ) -> None:
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

    # -- ending channels --------------------------------------------------------------------------

    def _end(self, leg: Leg, cause: str) -> None:
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
                self._emit(ref, leg, cause_of=leg.view())
        else:
            if leg.dialing is not None:  # the `bridge` application is ringing its B leg
                self._end(leg.dialing, "ORIGINATOR_CANCEL")
            unpark = (
                []
                if was_transferred
                else [_unbridged_outbound(template("04", i)) for i in (38, 39)]
            )
            for tpl in [*unpark, *outbound_hangup_sequence("ACTIVE")]:
                self._emit(tpl, leg, cause_of=leg.view())
        self._gone(leg)

    def _end_bridge(self, first: Leg, cause: str) -> None:
        peer = first.peer
        if peer is None:
            return
        if parks_after_bridge(peer):  # the other leg survives: it parks
            self.detach(peer)
            self._end(first, cause)
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
            self._emit(("04", index), leg, peer, cause_of=leg.view())
        self._gone(a)
        self._gone(b)

    def _gone(self, leg: Leg) -> None:
        leg.state = "gone"
        leg.peer = None
        self.legs.pop(leg.uuid, None)
        for hook in self.on_gone:
            hook(leg)

    # -- API: originate ---------------------------------------------------------------------------

    def _originate(self, arg: str | None) -> ApiResult:
        usage = (
            "-USAGE: <call_url> <exten>|&<application_name>(<app_args>) [<dialplan>] [<context>] "
            "[<cid_name>] [<cid_num>] [<timeout_sec>]\n"
        )
        words = (arg or "").split()
        eavesdrop = EAVESDROP.fullmatch(words[1]) if len(words) > 1 else None
        if len(words) < 2 or (words[1] != "&park()" and eavesdrop is None):
            return usage
        variables, endpoint = _split_variables(words[0])
        phone, failure, profile, host, user = self._resolve(endpoint)
        if failure is not None:
            return f"-ERR {failure}\n"
        assert phone is not None
        vars_ = dict(variables)
        leg = Leg(
            uuid=vars_.get("origination_uuid") or str(uuid_module.uuid4()),
            direction="outbound",
            number=user,
            name="Outbound Call",
            host=host,
            profile=profile,
            variables=variables,
        )
        timeout = float(vars_.get("originate_timeout", "60"))
        with self.lock:
            if leg.uuid in self.legs:
                return "-ERR DESTINATION_OUT_OF_ORDER\n"
            self.legs[leg.uuid] = leg
        if not self._call_out(leg, phone.behaviour, timeout):
            return f"-ERR {leg.cause}\n"

        def park() -> None:
            with self.lock:
                if eavesdrop is not None:  # the app runs; a listener never parks
                    leg.eavesdrop, leg.state = eavesdrop.group(1), "eavesdropping"
                    if eavesdrop.group(1) not in self.legs:
                        self._end(leg, "NORMAL_CLEARING")  # nothing to listen to: it ends
                    return
                for ref in ORIGINATED_PARK:
                    self._emit(ref, leg)
                if leg.state == "answering":
                    leg.state = "parked"

        return f"+OK {leg.uuid}\n", park

    def _call_out(self, leg: Leg, behaviour: Behaviour, timeout: float) -> bool:
        """Ring the new outbound `leg` (04's events; 05's when nothing answers) until it is
        answered (True, state "answering") or fails (False, hung up with its cause)."""
        with self.lock:
            leg.mark("created")
            self.rung.append((leg.profile, leg.number))
            ring = not isinstance(behaviour, Unreachable)
            for ref in ORIGINATE_RING if ring else ORIGINATE_RING[:5]:
                if ref == ("04", 23):
                    leg.mark("progress")
                if ref == ("04", 19) and not isinstance(behaviour, Answer):
                    ref = ("05", 4)  # the CHANNEL_CREATE of the leg that failed in 05
                self._emit(ref, leg)
        outcome = self._ring(leg, behaviour, timeout)
        with self.lock:
            if outcome is not None or leg.killed.is_set():
                leg.cause = leg.cause or outcome
                leg.mark("hangup")
                for tpl in outbound_hangup_sequence("RINGING" if ring else "DOWN"):
                    self._emit(tpl, leg, cause_of=leg.view())
                self._gone(leg)
                return False
            leg.mark("answered")
            for ref in ORIGINATE_ANSWER:
                self._emit(ref, leg)
            leg.state = "answering"
        return True

    @staticmethod
    def _ring(leg: Leg, behaviour: Behaviour, timeout: float) -> str | None:
        """Wait for the phone's answer; the failure cause, or None once it answered."""
        if isinstance(behaviour, Unreachable):
            return "NORMAL_TEMPORARY_FAILURE"
        if isinstance(behaviour, Answer):
            if behaviour.after >= timeout:
                return "NO_ANSWER" if not leg.killed.wait(timeout) else leg.cause
            return leg.cause if leg.killed.wait(behaviour.after) else None
        if isinstance(behaviour, Ring):
            return leg.cause if leg.killed.wait(timeout) else "NO_ANSWER"
        ring_for = behaviour.ring_for
        if leg.killed.wait(min(ring_for, timeout)):
            return leg.cause
        if ring_for >= timeout:
            return "NO_ANSWER"
        return "USER_BUSY" if isinstance(behaviour, Busy) else behaviour.cause

    def _resolve(self, endpoint: str) -> tuple[Phone | None, str | None, str, str, str]:
        """(phone, failure cause, sofia profile, contact host, user) for a dial string."""
        kind, _, rest = endpoint.partition("/")
        if kind == "error":
            return None, rest or "NORMAL_CLEARING", "", "", ""
        if kind == "user":
            user, _, _domain = rest.partition("@")
            phone = self.phones.get(user)
            if phone is None or not phone.registered:
                return None, "USER_NOT_REGISTERED", "", "", ""
            return phone, None, "internal", phone.contact_host, user
        if kind == "sofia":
            profile, _, target = rest.partition("/")
            if profile == "gateway":
                gateway, _, number = target.partition("/")
                phone = self.phones.get(number) or Phone(
                    number, self.trunk_phone or Unreachable(), False, "", ""
                )
                return phone, None, gateway, f"{gateway}.gateway", number
            user, _, host = target.partition("@")
            phone = self.phones.get(user)
            if phone is None or (host and phone.contact_host != host):
                phone = Phone(user, Unreachable(), False, "", host)
            return phone, None, profile, host, user
        return None, "CHAN_NOT_IMPLEMENTED", "", "", ""

    # -- API: uuid_* ------------------------------------------------------------------------------

    def _uuid_bridge(self, arg: str | None) -> ApiResult:
        words = (arg or "").split()
        if len(words) < 2:
            return "-USAGE: <uuid> <other_uuid>\n"
        with self.lock:
            a, b = self.legs.get(words[0]), self.legs.get(words[1])
            if (
                a is None
                or b is None
                or a.state not in ("parked", "bridged")
                or b.state not in ("parked", "answering", "bridged")
            ):
                return "-ERR Invalid uuid\n"

        def bridge() -> None:
            with self.lock:  # a bridged leg leaves its bridge; its old peer follows its vars
                for leg in (a, b):
                    if leg.peer is not None and leg.peer not in (a, b):
                        self.detach(leg.peer)
                a.state = b.state = "bridging"
            self._bridge(a, b)

        return f"+OK {b.uuid}\n", bridge

    def _bridge(self, a: Leg, b: Leg) -> None:
        """Bridge `a` (the caller side, uuid_bridge's first argument) with `b` (04's events)."""
        with self.lock:
            for ref in BRIDGE_A:
                self._emit(ref, a, b)
            for ref in BRIDGE_B:
                self._emit(ref, b, a)
            a.peer, b.peer = b, a
            a.bridge_side, b.bridge_side = "a", "b"
            a.mark("bridged")
            b.mark("bridged")
            for ref in BRIDGE_BOTH:
                leg, peer = (b, a) if ref == ("04", 44) or ref == ("04", 46) else (a, b)
                self._emit(ref, leg, peer)
            a.state = b.state = "bridged"

    def _uuid_kill(self, arg: str | None) -> ApiResult:
        words = (arg or "").split()
        if not words:
            return "-USAGE: <uuid> [cause]\n"
        with self.lock:
            leg = self.legs.get(words[0])
            if leg is None:
                return "-ERR No such channel!\n"
        cause = words[1] if len(words) > 1 else "NORMAL_CLEARING"
        return "+OK\n", lambda: self.hangup(leg.uuid, cause) if leg.uuid in self.legs else None

    def _uuid_broadcast(self, arg: str | None) -> str:
        words = (arg or "").split()
        if len(words) < 2:
            return "-USAGE: <uuid> <path> [aleg|bleg|holdb|both]\n"
        with self.lock:
            leg = self.legs.get(words[0])
            if leg is None:
                return "-ERR No such channel!\n"
            self.broadcasts.append((words[0], words[1], words[2] if len(words) > 2 else "aleg"))
            if leg.state == "parked":
                leg.playing = words[1]
        return "+OK Message sent\n"

    def _sched_del(self, arg: str | None) -> str:
        with self.lock:
            found = self.scheduled.pop((arg or "").strip(), None) is not None
        return f"+OK Deleted: {int(found)}\n"

    def _sched_transfer(self, arg: str | None) -> str:
        """sched_transfer [+]<time> <uuid> <extension> [<dialplan>] [<context>]: recorded; the
        test fires it with `fire_safety_net`."""
        words = (arg or "").split()
        if len(words) < 3:
            return "-USAGE: [+]<time> <uuid> <extension> [<dialplan>] [<context>]\n"
        with self.lock:
            if words[1] not in self.legs:
                return "-ERR No such channel!\n"
            self.scheduled[words[1]] = " ".join(words[2:])
        return "+OK\n"

    def _uuid_transfer(self, arg: str | None) -> ApiResult:
        """uuid_transfer <uuid> [-bleg|-both] <dest> [<dialplan>] [<context>].

        `park inline` parks the channel again (a bridged caller leaves its bridge: CHANNEL_UNBRIDGE
        then CHANNEL_PARK; its peer stays parked). Otherwise the channel leaves park
        (CHANNEL_UNPARK, CHANNEL_EXECUTE_COMPLETE) and, with `use_dialplan`, runs the generated
        dialplan at <dest> in <context>; without it, what follows is up to the test."""
        words = [w for w in (arg or "").split() if w[:1] != "-"]
        if len(words) < 2:
            return "-USAGE: <uuid> [-bleg|-both] <dest-exten> [<dialplan>] [<context>]\n"
        uuid, dest = words[0], words[1]
        context = words[3] if len(words) > 3 else "default"
        with self.lock:
            leg = self.legs.get(uuid)
            if leg is None:
                return "-ERR No such channel!\n"
            if dest == "park" and words[2:3] == ["inline"]:
                return "+OK\n", lambda: self._park_again(leg)
            if leg.state == "bridged" and leg.peer is not None:
                self.detach(leg.peer)  # its partner stays (park_after_bridge) or hangs up
                leg.state = "parked"
            if leg.state not in ("parked", "answering"):
                return "-ERR the fake switch transfers parked channels only\n"
            leg.state = "transferred"
            self.transfers.append((leg.uuid, " ".join(words[1:])))

        def leave_park() -> None:
            with self.lock:
                leg.playing = ""
                if leg.direction == "inbound":
                    for index in (33, 34):  # the caller leaving park in 04, without its peer
                        self._emit(strip_other_leg(template("04", index)), leg)
                else:
                    for index in (38, 39):  # the agent leg leaving park in 04
                        self._emit(_unbridged_outbound(template("04", index)), leg)
            if self.dialplan is not None:
                self._spawn(self._run_dialplan, leg, context, dest)

        return "+OK\n", leave_park

    def detach(self, leg: Leg) -> None:
        """`leg`'s partner left their bridge (transferred, bridged elsewhere, or hung up while
        this leg has park_after_bridge): CHANNEL_UNBRIDGE (04), then the leg parks if it has
        park_after_bridge, else it hangs up. Lock held."""
        peer = leg.peer
        if peer is not None:
            self._emit(("04", 53), leg, peer)
            leg.peer = None
            if peer.peer is leg:
                peer.peer = None
        leg.state = "parked"
        if parks_after_bridge(leg):
            park = ("03", 16) if leg.direction == "inbound" else ("04", 30)
            self._emit(strip_other_leg(template(*park)), leg)
        else:
            self._end(leg, "NORMAL_CLEARING")

    def _park_again(self, leg: Leg) -> None:
        with self.lock:
            leg.playing = ""  # parked anew: the bridge starts the music again
            peer = leg.peer
            if peer is not None:
                self._emit(("04", 53), leg, peer)  # CHANNEL_UNBRIDGE of the caller (04)
                leg.peer = peer.peer = None
                peer.state = "parked"
            elif leg.state == "parked":
                self._emit(strip_other_leg(template("04", 33)), leg)
            park = ("03", 16) if leg.direction == "inbound" else ("04", 30)
            self._emit(strip_other_leg(template(*park)), leg)
            leg.state = "parked"

    # -- the generated dialplan ---------------------------------------------------------------

    def use_dialplan(self, files: dict[str, str]) -> Dialplan:
        """Follow the rendered FreeSWITCH files (path -> text, as `implus dialplan render`
        writes them): `dialplan/implus.xml` and `dialplan/<context>/00_implus.xml`."""
        plan = Dialplan()
        for path, text in files.items():
            parts = path.split("/")
            if parts[0] != "dialplan":
                continue
            if len(parts) == 2:
                plan.load(text)
            else:
                plan.load_include(parts[1], text)
        self.dialplan = plan
        return plan

    def dial(
        self,
        destination: str,
        caller: str,
        *,
        context: str = "public",
        caller_name: str | None = None,
        variables: dict[str, str] | None = None,
        uuid: str | None = None,
    ) -> str:
        """A customer dials `destination` and the generated dialplan takes the call: its
        `set`s become the channel's variables (with their CHANNEL_EXECUTE events), then it
        answers, schedules the safety-net transfer and parks. Returns the channel UUID."""
        if self.dialplan is None:
            raise AssertionError("call use_dialplan(rendered files) before dial()")
        known = {"caller_id_number": caller, **(variables or {})}
        pairs: list[tuple[str, str]] = list((variables or {}).items())
        schedule = ""
        actions = self._follow(context, destination, known)
        for action in actions:
            data = expand(action.data, {**known, **dict(pairs)})
            if action.application == "set":
                name, _, value = data.partition("=")
                pairs.append((name, value))
            elif action.application == "sched_transfer":
                schedule = data.split(" ", 1)[1] if " " in data else data
            elif action.application == "park":
                break
            elif action.application == "playback":
                self.executed.append(("", "playback", data))  # the announcement, before park
            elif action.application not in ("answer",):
                raise AssertionError(f"the fake switch cannot run {action} at an entry point")
        else:
            raise AssertionError(f"{destination} does not reach park in the dialplan: {actions}")
        uuid_ = self.inbound_call(
            destination, caller, caller_name=caller_name, variables=pairs, uuid=uuid
        )
        with self.lock:
            self.scheduled[uuid_] = schedule
        return uuid_

    def _follow(self, context: str, destination: str, variables: dict[str, str]) -> list[Action]:
        """The actions a call to `destination` in `context` runs, through `transfer`s."""
        assert self.dialplan is not None
        for _ in range(10):
            actions = self.dialplan.hunt(context, destination, variables)
            if actions is None:
                raise AssertionError(f"no extension for {destination} in context {context}")
            if actions and actions[0].application == "transfer":
                words = expand(actions[0].data, {**variables, "destination_number": destination})
                destination, _, context = words.split()[:3]
                continue
            return actions
        raise AssertionError("transfer loop in the dialplan")

    def fire_safety_net(self, uuid: str) -> None:
        """The entry dialplan's `sched_transfer` comes due: the caller leaves park for the
        overflow extension (with `use_dialplan`, it runs; else only recorded)."""
        with self.lock:
            target = self.scheduled.pop(uuid, None)
            leg = self.legs.get(uuid)
        if not target or leg is None:
            raise AssertionError(f"no scheduled transfer for channel {uuid}")
        result = self._uuid_transfer(f"{uuid} {target}")
        assert isinstance(result, tuple), result
        result[1]()

    def _run_dialplan(self, leg: Leg, context: str, destination: str) -> None:
        """Run what the generated dialplan does at `destination` of `context` on `leg`."""
        assert self.dialplan is not None
        variables = dict(leg.variables)
        variables.setdefault("caller_id_number", leg.number)
        actions = self.dialplan.hunt(context, destination, variables)
        if actions is None:
            self.hangup(leg.uuid, "NO_ROUTE_DESTINATION")
            return
        for action in actions:
            if leg.state == "gone":
                return
            data = expand(action.data, {**variables, "destination_number": destination})
            self.executed.append((leg.uuid, action.application, data))
            app = action.application
            if app == "set":
                name, _, value = data.partition("=")
                variables[name] = value
                with self.lock:
                    leg.variables = [*leg.variables, (name, value)]
            elif app == "sched_cancel":
                with self.lock:
                    self.scheduled.pop(leg.uuid, None)
            elif app == "event":
                self._app_event(leg, data)
            elif app == "hangup":
                self.hangup(leg.uuid, data or "NORMAL_CLEARING")
                return
            elif app == "bridge":
                if self._bridge_app(leg, data):
                    return  # the call goes on until a side hangs up; then both end
            else:  # transfer to the admin's own contexts, voicemail...: the test plays it
                return
        if leg.state != "gone":
            self.hangup(leg.uuid, "NORMAL_CLEARING")

    def _app_event(self, leg: Leg, data: str) -> None:
        """The `event` application: a CUSTOM event with these headers plus the channel's data
        (mod_dptools event_function adds switch_channel_event_set_data)."""
        pairs = [tuple(p.strip() for p in item.split("=", 1)) for item in data.split(",") if item]
        headers = dict(pairs)
        subclass = headers.pop("Event-Subclass", "")
        headers.pop("Event-Name", None)
        park = ("03", 16) if leg.direction == "inbound" else ("04", 30)
        with self.lock:
            channel = self.renderer.render(
                strip_other_leg(template(*park)),
                caller=leg.view() if leg.direction == "inbound" else None,
                agent=leg.view() if leg.direction != "inbound" else None,
            )
            names = [k for k, _ in channel.headers]
            data_headers = channel.headers[names.index("Event-Sequence") + 1 :]
            event = FsEvent(
                "CUSTOM",
                (
                    ("Event-Subclass", subclass),
                    *self.server.events.prefix("CUSTOM", "mod_dptools.c", "event_function", 1373),
                    *headers.items(),
                    *data_headers,
                ),
                subclass=subclass,
            )
            self.custom_events.append(event)
            self.server.fire(event)

    def _bridge_app(self, a: Leg, dialstring: str) -> bool:
        """The `bridge` application: originate the B leg; on answer bridge it with `a`."""
        variables, endpoint = _split_variables(dialstring)
        phone, failure, profile, host, user = self._resolve(endpoint)
        if failure is not None or phone is None:
            return False
        b = Leg(
            uuid=str(uuid_module.uuid4()),
            direction="outbound",
            number=user,
            name="Outbound Call",
            host=host,
            profile=profile,
            variables=[("originate_timeout", dict(variables).get("originate_timeout", "60"))],
        )
        timeout = float(dict(variables).get("originate_timeout", "60"))
        with self.lock:
            self.legs[b.uuid] = b
            a.dialing = b
        answered = self._call_out(b, phone.behaviour, timeout)
        with self.lock:
            a.dialing = None
            if not answered:
                return False
            if a.state == "gone":
                self._end(b, "ORIGINATOR_CANCEL")
                return True
            self._bridge(a, b)
        return True

    def _uuid_exists(self, arg: str | None) -> str:
        with self.lock:
            return "true" if (arg or "").strip() in self.legs else "false"

    def _uuid_getvar(self, arg: str | None) -> str:
        words = (arg or "").split()
        if len(words) < 2:
            return "-USAGE: <uuid> <var>\n"
        with self.lock:
            leg = self.legs.get(words[0])
            if leg is None:
                return "-ERR No such channel!\n"
            return dict(leg.variables).get(words[1], "_undef_")

    def _spawn(self, target: Callable[..., object], *args: object) -> None:
        threading.Thread(target=target, args=args, name="fake-fs-dialplan", daemon=True).start()

    # -- show registrations -------------------------------------------------------------------

    def registration_rows(self) -> list[dict[str, str]]:
        """`show registrations` rows: the core registrations table (reg_user order)."""
        with self.lock:
            phones = sorted((p for p in self.phones.values() if p.registered), key=lambda p: p.user)
            expires = str(int(time.time()) + 3600)
            return [
                {
                    "reg_user": p.user,
                    "realm": p.domain,
                    "token": f"{p.user}-{p.contact_host}",
                    "url": f"sofia/internal/sip:{p.user}@{p.contact_host}",
                    "expires": expires,
                    "network_ip": p.contact_host.partition(":")[0],
                    "network_port": p.contact_host.partition(":")[2] or "5060",
                    "network_proto": "udp",
                    "hostname": self.server.events.hostname,
                    "metadata": "",
                }
                for p in phones
            ]

    # -- show channels ----------------------------------------------------------------------------

    def rows(self) -> list[dict[str, str]]:
        """`show channels` rows, oldest first (FreeSWITCH orders by created_epoch)."""
        with self.lock:
            legs = sorted(self.legs.values(), key=lambda leg: leg.times.get("created", 0))
            return [self._row(leg) for leg in legs]

    def _row(self, leg: Leg) -> dict[str, str]:
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
            "hostname": self.server.events.hostname,
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


EAVESDROP = re.compile(r"&eavesdrop\(([^()\s]+)\)")


def parks_after_bridge(leg: Leg) -> bool:
    """The channel variable park_after_bridge: when its bridge ends, the leg parks instead
    of hanging up (mod_dptools / switch_ivr_bridge)."""
    return dict(leg.variables).get("park_after_bridge", "").lower() == "true"


def _split_variables(dialstring: str) -> tuple[list[tuple[str, str]], str]:
    """`{a=1,b=2}endpoint` -> ([("a", "1"), ("b", "2")], "endpoint")."""
    if not dialstring.startswith("{") or "}" not in dialstring:
        return [], dialstring
    inner, _, endpoint = dialstring[1:].partition("}")
    pairs = []
    for item in inner.split(","):
        name, _, value = item.partition("=")
        if name:
            pairs.append((name.strip(), value.strip().strip("'")))
    return pairs, endpoint
