"""AMI events in, call-flow facts out: the bridge's translation layer (no I/O).

`Translator.feed(event)` returns the facts (`callflow.facts`, the same both bridges
produce) one AMI event tells. It keeps the
little state the translation needs: for a leg the bridge originated, what its `DialEnd`
and `Hangup` said before its `OriginateResponse` arrived, because Asterisk 22 answers a
busy phone with `Reason: 0` (the generic failure) and only the leg's `DialEnd BUSY` /
`Hangup Cause: 17`, which come first, tell busy from unreachable
(docs/asterisk-sandbox.md, "Originate").

The dialplan contract (docs/call-flow.md) names the UserEvents read here: `ImplusEntry`,
`ImplusRingEnded`, `ImplusOutbound`, `ImplusOverflow`, `ImplusConsultEnded`. A caller's own
Dial (implus-connect) is read from `DialBegin` / `DialEnd` with the caller's Uniqueid.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from callflow import facts as f

from . import events as ev
from .filters import EventFilter

#: The event classes of everything in EVENT_FILTERS (the `dialplan` class - Newexten,
#: VarSet - is the chattiest and not needed).
EVENT_CLASSES = "system,call,user"

#: Events `feed` reads whatever their content (plus Shutdown, which tells why the link
#: drops).
EVENT_NAMES = (
    "Hangup",
    "HangupRequest",
    "BridgeEnter",
    "DialBegin",
    "DialEnd",
    "OriginateResponse",
    "Shutdown",
)

#: AMI event filters for the bridge's session: only what `feed` reads. Fewer events =
#: less parsing here; name filters (Asterisk 22's `MatchCriteria`) = less work for
#: Asterisk, which otherwise runs a regex over the whole text of every event of the
#: session's classes (40-odd per call) to pick these. Only our own UserEvents (the
#: dialplan contract's `Implus...`) and PJSIP devices' states (agent phones) come through.
EVENT_FILTERS: tuple[EventFilter, ...] = (
    *(EventFilter(f"name({name})") for name in EVENT_NAMES),
    EventFilter("name(UserEvent),header(UserEvent),method(starts_with)", "Implus"),
    EventFilter("name(DeviceStateChange),header(Device),method(starts_with)", "PJSIP/"),
)

#: Legs remembered while waiting for their OriginateResponse (bounded: a response lost
#: to a link drop must not leak memory).
MAX_PENDING_LEGS = 10_000

_BUSY_CAUSES = {17, 21}  # user busy, call rejected
_NO_ANSWER_CAUSES = {18, 19}  # no user responding, no answer
_PRESENCE = {
    "NOT_INUSE": "available",
    "INUSE": "busy",
    "BUSY": "busy",
    "RINGING": "busy",
    "RINGINUSE": "busy",
    "ONHOLD": "busy",
}


#: Q.850 causes by the names FreeSWITCH gives them, so both bridges write the same `cause`
#: into transcripts (Asterisk's own text is kept as `cause_txt`).
CAUSE_NAMES = {
    1: "UNALLOCATED_NUMBER",
    3: "NO_ROUTE_DESTINATION",
    16: "NORMAL_CLEARING",
    17: "USER_BUSY",
    18: "NO_USER_RESPONSE",
    19: "NO_ANSWER",
    20: "SUBSCRIBER_ABSENT",
    21: "CALL_REJECTED",
    22: "NUMBER_CHANGED",
    27: "DESTINATION_OUT_OF_ORDER",
    28: "INVALID_NUMBER_FORMAT",
    29: "FACILITY_REJECTED",
    31: "NORMAL_UNSPECIFIED",
    34: "NORMAL_CIRCUIT_CONGESTION",
    38: "NETWORK_OUT_OF_ORDER",
    41: "NORMAL_TEMPORARY_FAILURE",
    42: "SWITCH_CONGESTION",
    58: "BEARERCAPABILITY_NOTAVAIL",
    88: "INCOMPATIBLE_DESTINATION",
    102: "RECOVERY_ON_TIMER_EXPIRE",
    127: "INTERWORKING",
}


#: A Dial's DIALSTATUS as the cause name of the agent's unanswered leg.
DIAL_STATUS_CAUSES = {
    "BUSY": "USER_BUSY",
    "NOANSWER": "NO_ANSWER",
    "CHANUNAVAIL": "SUBSCRIBER_ABSENT",
    "CONGESTION": "NORMAL_CIRCUIT_CONGESTION",
    "CANCEL": "ORIGINATOR_CANCEL",
}


def cause_name(code: int) -> str:
    """`16` -> `NORMAL_CLEARING`; 0 (a BYE without a Reason header, or a hang-up the
    bridge did not see) and unlisted codes -> `UNKNOWN`."""
    return CAUSE_NAMES.get(code, "UNKNOWN")


def device_presence(state: str) -> f.Presence:
    """A device state as the router's `sip` presence: available, busy or offline.

    A phone that rings or is on a call is busy (it cannot take another call); an
    unregistered / unreachable / unknown device is offline."""
    value = _PRESENCE.get(state.upper(), "offline")
    return "available" if value == "available" else "busy" if value == "busy" else "offline"


def failure_reason(reason: int, dial_status: str, cause: int) -> f.LegFailure:
    """Why an originated leg failed, from OriginateResponse `Reason` and what the leg's
    DialEnd / Hangup said before it."""
    if dial_status == "BUSY" or cause in _BUSY_CAUSES or reason == 5:
        return "busy"
    if dial_status == "NOANSWER" or cause in _NO_ANSWER_CAUSES or reason == 3:
        return "no_answer"
    return "unavailable"


@dataclass
class _Leg:
    dial_status: str = ""
    cause: int = 0


class Translator:
    """Feed AMI events in arrival order; get facts back."""

    def __init__(self) -> None:
        self._legs: OrderedDict[str, _Leg] = OrderedDict()
        self._dial_ended: OrderedDict[str, None] = OrderedDict()
        """Channels whose Dial told its end by DialEnd: the dialplan's UserEvent after that
        Dial (ImplusRingEnded / ImplusConsultEnded) repeats it and is dropped."""

    def reset(self) -> None:
        """Forget leg state (after a link drop: those responses will never come)."""
        self._legs.clear()
        self._dial_ended.clear()

    def feed(self, event: ev.AmiEvent) -> list[f.Fact]:
        """The facts this event tells (often none)."""
        if isinstance(event, ev.UserEvent):
            if event.user_event in _DIAL_RETURNED and event.uniqueid in self._dial_ended:
                # Told already by the Dial's DialEnd (which comes first: same channel). By
                # now the caller may be ringing the next agent, and this leg-less failure
                # would end that ring instead (seen when the router offered the next agent
                # before this event arrived).
                del self._dial_ended[event.uniqueid]
                return []
            return _user_event(event)
        if isinstance(event, ev.Hangup):
            self._dial_ended.pop(event.uniqueid, None)
            leg = self._legs.get(event.uniqueid)
            if leg is not None:
                leg.cause = event.cause
            return [f.ChannelGone(event.uniqueid, cause_name(event.cause), event.cause_txt)]
        if isinstance(event, ev.HangupRequest):
            return [f.HangupRequested(event.uniqueid)]
        if isinstance(event, ev.BridgeEnter):
            return [f.Bridged(event.uniqueid)]
        if isinstance(event, ev.DialBegin):
            if not event.uniqueid:  # an Originate: no calling channel
                self._remember(event.dest_uniqueid)
                return []
            return [f.LegRinging(by=event.uniqueid, leg=event.dest_uniqueid)]
        if isinstance(event, ev.DialEnd):
            if not event.uniqueid:
                self._remember(event.dest_uniqueid).dial_status = event.dial_status
                return []
            self._dial_ended[event.uniqueid] = None
            while len(self._dial_ended) > MAX_PENDING_LEGS:
                self._dial_ended.popitem(last=False)
            return _dial_end(event)
        if isinstance(event, ev.OriginateResponse):
            return [self._originate_response(event)]
        if isinstance(event, ev.DeviceStateChange):
            tech, _, endpoint = event.device.partition("/")
            if tech.upper() != "PJSIP" or not endpoint:
                return []
            return [f.DeviceChanged(endpoint, device_presence(event.state))]
        return []

    def _remember(self, leg_id: str) -> _Leg:
        leg = self._legs.get(leg_id)
        if leg is None:
            leg = self._legs[leg_id] = _Leg()
            while len(self._legs) > MAX_PENDING_LEGS:
                self._legs.popitem(last=False)
        return leg

    def _originate_response(self, event: ev.OriginateResponse) -> f.Fact:
        # An endpoint that cannot be dialled at all gives `Uniqueid: <unknown>`; the bridge
        # names every Originate's ActionID after the leg it places (`intents.originate_id`).
        leg_id = "" if event.uniqueid.startswith("<") else event.uniqueid
        leg = self._legs.pop(leg_id, None) or _Leg()
        leg_id = leg_id or leg_of_action(event.action_id)
        if event.answered:
            return f.LegAnswered(leg_id)
        return f.LegFailed(
            leg_id,
            failure_reason(event.reason, leg.dial_status, leg.cause),
            cause_name(leg.cause),
        )


ORIGINATE_PREFIX = "originate:"

_DIAL_RETURNED = frozenset({"ImplusRingEnded", "ImplusConsultEnded"})
"""The dialplan's word that a Dial returned: needed when no channel was made (no DialEnd)."""


def originate_id(leg: str) -> str:
    """The ActionID of the Originate that places `leg` (an unplaceable leg's response
    names no channel: this tells which leg it was)."""
    return ORIGINATE_PREFIX + leg


def leg_of_action(action_id: str) -> str:
    return action_id[len(ORIGINATE_PREFIX) :] if action_id.startswith(ORIGINATE_PREFIX) else ""


def _dial_end(event: ev.DialEnd) -> list[f.Fact]:
    """A Dial from a channel (a caller ringing an agent, an agent leg calling out) ended."""
    status = event.dial_status
    if status == "ANSWER":
        return [f.LegAnswered(event.dest_uniqueid, by=event.uniqueid)]
    if status == "CANCEL":  # the bridge or the caller stopped it: told by what did
        return []
    return [
        f.LegFailed(
            event.dest_uniqueid,
            failure_reason(0, status, 0),
            DIAL_STATUS_CAUSES.get(status, "UNKNOWN"),
            by=event.uniqueid,
        )
    ]


def _user_event(event: ev.UserEvent) -> list[f.Fact]:
    name, x = event.user_event, event.fields
    if name == "ImplusEntry":
        try:
            max_wait = int(x.get("MaxWait", "0"))
        except ValueError:
            max_wait = 0
        return [
            f.CallerArrived(
                call_id=event.uniqueid,
                channel=event.channel,
                service=x.get("Service", ""),
                entry=x.get("Entry", ""),
                user=x.get("User", ""),
                # `Language` is both a channel header and ours; both carry the entry's.
                language=x.get("Language", "") or event.language,
                exten=event.exten,
                number=event.caller_id_num,
                caller_name=event.caller_id_name,
                max_wait=max_wait,
                media=x.get("Media", "") or "voice",
            )
        ]
    if name == "ImplusOutbound":  # the agent answered an outbound leg: it dials out now
        return [f.LegAnswered(event.uniqueid)]
    if name == "ImplusRingEnded":  # the caller's Dial returned; no DialEnd if no channel
        status = x.get("Status", "")
        reason = failure_reason(0, status, 0)
        return [
            f.LegFailed("", reason, DIAL_STATUS_CAUSES.get(status, "UNKNOWN"), by=event.uniqueid)
        ]
    if name == "ImplusConsultEnded":  # the agent's consult Dial returned (call control)
        status = x.get("Status", "")
        if status in ("ANSWER", "CANCEL"):
            return []  # the target hung up after talking, or the bridge ended the Dial
        reason = failure_reason(0, status, 0)
        return [
            f.LegFailed("", reason, DIAL_STATUS_CAUSES.get(status, "UNKNOWN"), by=event.uniqueid)
        ]
    if name == "ImplusOverflow":
        return [f.DialplanOverflow(event.uniqueid, x.get("Destination", ""))]
    return []
