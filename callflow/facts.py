"""What a PBX tells about calls, in the call centre's words: the same facts from both PBXs.

Each bridge translates its wire events into these (`ami_bridge/translate.py`,
`esl_bridge/translate.py`); the call flow acts on facts only. Every fact names channels by
their PBX id (Asterisk's Uniqueid, FreeSWITCH's Unique-ID): the caller's channel is the call
id the router knows; agent legs are the channels that ring agents' phones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

LegFailure = Literal["no_answer", "busy", "unavailable"]
"""Why an agent leg did not connect, in the router's words (`offer_failed` reasons)."""

Presence = Literal["available", "busy", "offline"]
"""A phone's state for the router's `sip` presence lease."""

NO_ANSWER_CAUSES = frozenset(
    {"NO_ANSWER", "NO_USER_RESPONSE", "ALLOTTED_TIMEOUT", "RECOVERY_ON_TIMER_EXPIRE"}
)
BUSY_CAUSES = frozenset({"USER_BUSY", "CALL_REJECTED"})


def failure_reason(cause: str | None) -> LegFailure:
    """The router's offer-failure reason for the hang-up cause (Q.850 name, as FreeSWITCH
    spells it) of an agent leg that was never answered."""
    if cause in NO_ANSWER_CAUSES:
        return "no_answer"
    if cause in BUSY_CAUSES:
        return "busy"
    return "unavailable"


@dataclass(frozen=True)
class CallerArrived:
    """A caller reached an entry point and is on hold (Asterisk: UserEvent ImplusEntry;
    FreeSWITCH: CHANNEL_PARK with the entry's `implus_*` variables)."""

    call_id: str
    service: str
    entry: str
    user: str = ""
    """The entry point's user id expression; empty for an anonymous caller."""
    language: str = ""
    exten: str = ""
    """What the caller dialled (Asterisk: where a transfer Redirects it back to)."""
    number: str = ""
    caller_name: str = ""
    max_wait: int = 0
    """Seconds the entry point lets the caller wait before its overflow (0: the admin
    config's)."""
    hold_music: str = ""
    channel: str = ""
    """The PBX channel name (for logs)."""
    media: str = "voice"
    """The router channel of the request: `voice` (a phone) or `voip` (a browser)."""


@dataclass(frozen=True)
class LegRinging:
    """Channel `by` started ringing `leg` (Asterisk: DialBegin; FreeSWITCH: the dialplan's
    `implus::outbound` event, `leg` unknown)."""

    by: str
    leg: str
    number: str = ""
    trunk: str = ""


@dataclass(frozen=True)
class LegAnswered:
    """`leg` answered (Asterisk: DialEnd ANSWER of `by`'s Dial, OriginateResponse success,
    UserEvent ImplusOutbound; FreeSWITCH: CHANNEL_PARK of an agent leg)."""

    leg: str
    by: str = ""


@dataclass(frozen=True)
class LegFailed:
    """A leg that was ringing ended unanswered (Asterisk: DialEnd / ImplusRingEnded /
    OriginateResponse failure; FreeSWITCH: BACKGROUND_JOB failure of its originate).
    `leg` is empty when the PBX never made the channel; then `by` is the channel whose
    dial failed."""

    leg: str
    reason: LegFailure
    cause: str = "UNKNOWN"
    by: str = ""


@dataclass(frozen=True)
class Bridged:
    """`channel` is in a bridge with `peer` (Asterisk: BridgeEnter; FreeSWITCH:
    CHANNEL_BRIDGE). `peer` may be empty when the PBX does not say."""

    channel: str
    peer: str = ""


@dataclass(frozen=True)
class ChannelGone:
    """A channel hung up, with its Q.850 cause name (`UNKNOWN` when not known)."""

    channel: str
    cause: str = "UNKNOWN"
    cause_txt: str = ""


@dataclass(frozen=True)
class HangupRequested:
    """Someone asked to hang `channel` up first: who ended the call."""

    channel: str


@dataclass(frozen=True)
class Parked:
    """FreeSWITCH: a caller the bridge holds is parked again (after a transfer back to
    hold, or after its agent left the bridge)."""

    call_id: str


@dataclass(frozen=True)
class DialplanOverflow:
    """The entry point's own safety net sent the caller to its overflow (max wait + hold
    margin passed without the router deciding)."""

    call_id: str
    destination: str = ""


@dataclass(frozen=True)
class DeviceChanged:
    """An agent phone's state changed (`endpoint` is the SIP user)."""

    endpoint: str
    presence: Presence


Fact = (
    CallerArrived
    | LegRinging
    | LegAnswered
    | LegFailed
    | Bridged
    | ChannelGone
    | HangupRequested
    | Parked
    | DialplanOverflow
    | DeviceChanged
)


def channels_of(fact: Fact) -> tuple[str, ...]:
    """The channels a fact is about, most specific first: the bridge finds the call by the
    first one its call book knows."""
    if isinstance(fact, CallerArrived | Parked | DialplanOverflow):
        return (fact.call_id,)
    if isinstance(fact, LegRinging):
        return (fact.by, fact.leg)
    if isinstance(fact, LegAnswered | LegFailed):
        return (fact.leg, fact.by)
    if isinstance(fact, Bridged):
        return (fact.channel, fact.peer)
    if isinstance(fact, ChannelGone | HangupRequested):
        return (fact.channel,)
    return ()
