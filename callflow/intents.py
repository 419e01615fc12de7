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


# --- call control (callflow.control) --------------------------------------------------


@dataclass(frozen=True)
class HoldCustomer:
    """The customer of connected call `call_id` hears hold music (`music`: the entry's
    class/source); the agent (`leg`) no longer hears them. Answer: True, or False if the
    PBX could not (a leg gone)."""

    call_id: str
    leg: str
    music: str


@dataclass(frozen=True)
class ResumeCustomer:
    """Customer and agent `leg` talk again. `apart`: they were separated (a consult, or
    Asterisk's hold, which always separates them), not only held in their bridge.
    Answer: True / False."""

    call_id: str
    leg: str
    apart: bool


@dataclass(frozen=True)
class MuteAgent:
    """The customer stops (`on`) or starts again hearing the agent leg `leg`.
    Answer: True / False."""

    leg: str
    on: bool


@dataclass(frozen=True)
class DialConsult:
    """The customer is on hold (`held_in_bridge`: FreeSWITCH's hold keeps them bridged):
    the agent leg `leg` calls `dial` for up to `seconds`; once answered the agent talks
    with it. `consult_leg` is the new leg's id when the bridge chooses it (FreeSWITCH),
    else empty (Asterisk's agent Dial names it). Answer: True, or False if not placed."""

    call_id: str
    leg: str
    consult_leg: str
    dial: str
    seconds: float
    number: str = ""
    held_in_bridge: bool = False


@dataclass(frozen=True)
class ConnectConsult:
    """The consult target answered: connect it with the agent leg (FreeSWITCH bridges
    them; Asterisk's Dial already has). Answer: True / False."""

    leg: str
    consult_leg: str


@dataclass(frozen=True)
class DropConsult:
    """End the consult leg; the agent leg waits (the customer is still on hold).
    Answer: None."""

    call_id: str
    leg: str
    consult_leg: str


@dataclass(frozen=True)
class CompleteConsult:
    """The customer talks with the consult leg from now on; the agent leg is hung up.
    Answer: True / False."""

    call_id: str
    leg: str
    consult_leg: str


@dataclass(frozen=True)
class TransferOut:
    """Blind transfer: the customer leaves the agent (who is hung up) and calls `number`
    through `trunk`. Answer: True / False."""

    call_id: str
    leg: str
    trunk: Destination
    number: str


@dataclass(frozen=True)
class StartRecording:
    """Record call `call_id` (both directions, mixed) into `path` (the PBX's own file
    system) until it ends. Answer: True / False."""

    call_id: str
    path: str


@dataclass(frozen=True)
class Spy:
    """Ring the supervisor's phone (`dial`) as `spy_leg`; once answered it listens to the
    agent leg `target` (`mode`: listen, whisper to the agent, barge in on both).
    Answer: True, or False if not placed."""

    call_id: str
    target: str
    spy_leg: str
    dial: str
    mode: str
    supervisor: str


@dataclass(frozen=True)
class SpyMode:
    """Switch the answered spy leg `spy_leg` to `mode` (`first`: just answered, Asterisk
    started it in that mode already). Answer: True / False."""

    spy_leg: str
    mode: str
    first: bool = False


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
    | HoldCustomer
    | ResumeCustomer
    | MuteAgent
    | DialConsult
    | ConnectConsult
    | DropConsult
    | CompleteConsult
    | TransferOut
    | StartRecording
    | Spy
    | SpyMode
)
