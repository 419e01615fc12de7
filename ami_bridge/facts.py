"""What the bridge learns from Asterisk, in the call-centre's words.

`translate.Translator` turns the AMI event stream (`events.py`) into these facts; the
bridge acts on facts only. Every fact names the channel it is about by Uniqueid (the
caller's Uniqueid is the call id the router knows; agent legs have Uniqueids the bridge
chose when it originated them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

LegFailure = Literal["no_answer", "busy", "unavailable"]
"""Why an agent leg did not connect, in the router's words (`offer_failed` reasons)."""

Presence = Literal["available", "busy", "offline"]
"""A phone's state for the router's `sip` presence lease."""


@dataclass(frozen=True)
class CallerArrived:
    """A caller reached an entry point (UserEvent ImplusEntry) and is now on hold."""

    call_id: str
    channel: str
    service: str
    entry: str
    user: str
    """IMPLUS_USER from the dialplan; empty for an anonymous caller."""
    language: str
    exten: str
    """What the caller dialled (the entry's extension or what matched its pattern)."""
    caller_num: str
    caller_name: str
    max_wait: int


@dataclass(frozen=True)
class OutboundAnswered:
    """An agent-first outbound leg was answered and now dials the customer
    (UserEvent ImplusOutbound)."""

    leg_id: str
    trunk: str
    number: str
    agent: str


@dataclass(frozen=True)
class RingEnded:
    """The caller's Dial in implus-connect returned without a connection
    (UserEvent ImplusRingEnded, `status` = DIALSTATUS: NOANSWER, BUSY, CHANUNAVAIL...)."""

    call_id: str
    status: str


@dataclass(frozen=True)
class DialplanOverflow:
    """A caller entered `implus-overflow` (max wait reached, or the bridge sent it)."""

    call_id: str
    entry: str
    destination: str


@dataclass(frozen=True)
class LegAnswered:
    """An originated (outbound) leg's OriginateResponse said answered (Reason 4)."""

    leg_id: str
    action_id: str


@dataclass(frozen=True)
class LegFailed:
    """An originated leg did not connect (OriginateResponse failure). `leg_id` is empty
    when Asterisk could not even create the channel (unknown/unregistered endpoint)."""

    leg_id: str
    action_id: str
    reason: LegFailure
    cause: int
    """Q.850 cause of the leg's Hangup when it came first (17 busy...), else 0."""


@dataclass(frozen=True)
class Bridged:
    """A channel entered a bridge (the caller with its agent, an outbound pair)."""

    uniqueid: str
    bridge_id: str


@dataclass(frozen=True)
class ChannelGone:
    """A channel hung up."""

    uniqueid: str
    channel: str
    cause: int
    cause_txt: str


@dataclass(frozen=True)
class HangupRequested:
    """The far end (or someone) asked to hang this channel up: who ended the call."""

    uniqueid: str


@dataclass(frozen=True)
class DialStarted:
    """A channel in the dialplan (a caller in implus-connect, an outbound agent leg)
    started dialling `dest_id`."""

    uniqueid: str
    dest_id: str
    dest_channel: str


@dataclass(frozen=True)
class DialEnded:
    """A dial from the dialplan ended: ANSWER, BUSY, NOANSWER, CANCEL, CHANUNAVAIL..."""

    uniqueid: str
    dest_id: str
    status: str


@dataclass(frozen=True)
class DeviceChanged:
    """A PJSIP endpoint's device state changed (`endpoint` without the `PJSIP/`)."""

    endpoint: str
    state: str
    presence: Presence


Fact = (
    CallerArrived
    | OutboundAnswered
    | RingEnded
    | DialplanOverflow
    | LegAnswered
    | LegFailed
    | Bridged
    | ChannelGone
    | HangupRequested
    | DialStarted
    | DialEnded
    | DeviceChanged
)
