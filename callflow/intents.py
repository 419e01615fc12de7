"""What the call flow asks a PBX to do, in its own words: the same intents for both PBXs.

Each bridge carries them out with its PBX's means (`ami_bridge/intents.py`: AMI actions;
`esl_bridge/intents.py`: ESL commands). Where the two PBXs differ in mechanism, the intent
says the goal and the bridge picks the means: Asterisk rings an agent from the caller's own
Dial (so the agent's answer already connects them), FreeSWITCH originates the agent's leg
and bridges it after the router accepted. docs/call-flow.md lists the mapping.

A bridge answers each intent with the value its docstring names. A PBX that cannot be
reached at all raises `PbxUnavailable`: the flow stops there and the command that started
it is read again once the link is back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from admin_config.targets import Destination


class PbxUnavailable(Exception):
    """The PBX's management link is down: nothing was done."""


@dataclass(frozen=True)
class RingAgent:
    """Ring the agent's phone (`dial`) for the waiting caller `call_id` for `seconds`.
    `leg` is the agent leg's id when the bridge chooses it (FreeSWITCH), else empty
    (Asterisk learns it from the Dial). Answer: `RingResult`."""

    call_id: str
    leg: str
    dial: str
    seconds: float
    agent: str
    offer: str
    request: str
    caller_number: str = ""


RingResult = Literal["ringing", "caller_gone", "failed"]


@dataclass(frozen=True)
class DropAgentLeg:
    """Stop the agent leg `leg` of a caller who keeps waiting (a ring cancelled, or
    answered for an offer that is no longer the agent's). Answer: None."""

    call_id: str
    leg: str
    exten: str
    """What the caller dialled (Asterisk takes it back to that entry's hold step)."""
    cause: str = "ORIGINATOR_CANCEL"


@dataclass(frozen=True)
class Connect:
    """The router accepted: connect the caller with the answered agent leg. Answer:
    `ConnectResult` (Asterisk's Dial has connected them already: `bridged`)."""

    call_id: str
    leg: str


ConnectResult = Literal["bridged", "caller_gone", "agent_gone"]


@dataclass(frozen=True)
class ReturnToHold:
    """Take the caller out of its conversation (or ringing) back on hold at its entry
    point, the agent leg `leg` hung up, the entry's own overflow timer armed again.
    Answer: True, or False if the caller is gone."""

    call_id: str
    leg: str
    exten: str
    entry: str
    max_wait: int


@dataclass(frozen=True)
class PlayHold:
    """Hold music for a waiting caller (FreeSWITCH; Asterisk's entry step plays it itself).
    Answer: None."""

    call_id: str
    music: str


@dataclass(frozen=True)
class SendToOverflow:
    """Send the caller to its entry point's overflow destination (ending any ringing).
    Answer: True, or False if it could not be sent (gone, refused)."""

    call_id: str
    to: Destination


@dataclass(frozen=True)
class HangUp:
    """Hang channel `channel` up (nothing happens if it is gone). Answer: None."""

    channel: str
    cause: str = "NORMAL_CLEARING"


@dataclass(frozen=True)
class PlaceAgentFirst:
    """An outbound call: ring the agent's phone (`dial`) as channel `leg` for `seconds`;
    once answered, the customer's `number` is dialled through `trunk` (Asterisk: at once by
    the dialplan; FreeSWITCH: on `DialCustomer`). Answer: True, or False if the PBX refused
    at once (then no event follows)."""

    leg: str
    dial: str
    trunk: Destination
    seconds: float
    number: str
    agent: str
    session: str
    offer: str = ""
    click: str = ""


@dataclass(frozen=True)
class DialCustomer:
    """The agent of outbound call `leg` answered: dial the customer through `trunk`
    (Asterisk's dialplan does that by itself). Answer: True, or False if it failed."""

    leg: str
    trunk: Destination


@dataclass(frozen=True)
class ChannelExists:
    """Is channel `channel` up? Answer: True / False, None if the PBX could not say."""

    channel: str


@dataclass(frozen=True)
class ReadVariables:
    """Channel variables of a channel the bridge has no record of (to take it over).
    Answer: a dict of the ones set (names as given), or None if the channel is gone."""

    channel: str
    names: tuple[str, ...] = field(default=())


Intent = (
    RingAgent
    | DropAgentLeg
    | Connect
    | ReturnToHold
    | PlayHold
    | SendToOverflow
    | HangUp
    | PlaceAgentFirst
    | DialCustomer
    | ChannelExists
    | ReadVariables
)
