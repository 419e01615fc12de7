"""AMI messages as frozen dataclasses: nothing past the connection touches wire dicts.

`from_message()` converts a panoramisk `Message` at the edge: header names go from
CamelCase to snake_case (`CallerIDNum` -> `caller_id_num`, `Cause-txt` -> `cause_txt`),
headers a class does not declare are dropped, repeated headers (`Variable`,
`ChanVariable`) are kept in order as tuples, and ints are parsed where Asterisk sends
numbers. Unknown event names become `OtherEvent`. `LinkUp`/`LinkDown` are not AMI
events: the connection puts them in the event stream so a consumer sees, in order, when
to rebuild its state (after `LinkUp`) and when events may have been missed.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

_SNAKE_1 = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SNAKE_2 = re.compile(r"(?<=[A-Z])(?=[A-Z][a-z])")


@functools.lru_cache(maxsize=4096)
def snake_case(name: str) -> str:
    """`CallerIDNum` -> `caller_id_num`, `Cause-txt` -> `cause_txt`, `AOR` -> `aor`."""
    name = name.replace("-", "_")
    return _SNAKE_2.sub("_", _SNAKE_1.sub("_", name)).lower().replace("__", "_")


@dataclass(frozen=True)
class AmiEvent:
    """Base of every event; `event` is the AMI event name."""

    NAME: ClassVar[str] = ""
    event: str = ""
    action_id: str = ""


@dataclass(frozen=True)
class ChannelEvent(AmiEvent):
    """Headers Asterisk puts on every channel event. Key calls on uniqueid/linkedid."""

    channel: str = ""
    channel_state: int = 0
    channel_state_desc: str = ""
    caller_id_num: str = ""
    caller_id_name: str = ""
    connected_line_num: str = ""
    connected_line_name: str = ""
    language: str = ""
    account_code: str = ""
    context: str = ""
    exten: str = ""
    priority: int = 0
    uniqueid: str = ""
    linkedid: str = ""
    # `channelvars` in manager.conf adds one `ChanVariable: NAME=value` per variable
    chan_variable: tuple[str, ...] = ()

    @property
    def chan_vars(self) -> dict[str, str]:
        """The ChanVariable headers as a dict (NAME -> value)."""
        return dict(item.partition("=")[::2] for item in self.chan_variable)


@dataclass(frozen=True)
class Newchannel(ChannelEvent):
    NAME: ClassVar[str] = "Newchannel"


@dataclass(frozen=True)
class Newstate(ChannelEvent):
    NAME: ClassVar[str] = "Newstate"


@dataclass(frozen=True)
class Hangup(ChannelEvent):
    """`cause` is Q.850: 16 normal clearing (dialplan Hangup()), 0 when a caller's
    BYE carries no Reason header, 17 busy, 19 no answer, 21 rejected..."""

    NAME: ClassVar[str] = "Hangup"
    cause: int = 0
    cause_txt: str = ""


@dataclass(frozen=True)
class HangupRequest(ChannelEvent):
    """A hang-up was asked for this channel from outside (the far end's BYE, an AMI
    Hangup): the first of a call's channels to get one is the side that ended it."""

    NAME: ClassVar[str] = "HangupRequest"
    cause: int = 0


@dataclass(frozen=True)
class DialEvent(ChannelEvent):
    """DialBegin/DialEnd: the caller's channel fields (empty for an Originate) + Dest*."""

    dest_channel: str = ""
    dest_channel_state: int = 0
    dest_caller_id_num: str = ""
    dest_caller_id_name: str = ""
    dest_context: str = ""
    dest_exten: str = ""
    dest_uniqueid: str = ""
    dest_linkedid: str = ""
    dial_string: str = ""


@dataclass(frozen=True)
class DialBegin(DialEvent):
    NAME: ClassVar[str] = "DialBegin"


@dataclass(frozen=True)
class DialEnd(DialEvent):
    """`dial_status`: ANSWER, BUSY, NOANSWER, CANCEL, CONGESTION, CHANUNAVAIL..."""

    NAME: ClassVar[str] = "DialEnd"
    dial_status: str = ""
    forward: str = ""


@dataclass(frozen=True)
class BridgeEvent(ChannelEvent):
    bridge_uniqueid: str = ""
    bridge_type: str = ""
    bridge_technology: str = ""
    bridge_creator: str = ""
    bridge_name: str = ""
    bridge_num_channels: int = 0


@dataclass(frozen=True)
class BridgeEnter(BridgeEvent):
    NAME: ClassVar[str] = "BridgeEnter"


@dataclass(frozen=True)
class BridgeLeave(BridgeEvent):
    NAME: ClassVar[str] = "BridgeLeave"


@dataclass(frozen=True)
class VarSet(ChannelEvent):
    """A channel (or global, channel "none") variable was set."""

    NAME: ClassVar[str] = "VarSet"
    variable: str = ""
    value: str = ""


@dataclass(frozen=True)
class UserEvent(ChannelEvent):
    """`UserEvent(Name,Key: value,...)` from the dialplan; `fields` holds the keys
    as written in the dialplan (not snake_cased: they are ours, not Asterisk's)."""

    NAME: ClassVar[str] = "UserEvent"
    user_event: str = ""
    fields: Mapping[str, str] = field(default_factory=lambda: types.MappingProxyType({}))


@dataclass(frozen=True)
class DeviceStateChange(AmiEvent):
    """`device` like `PJSIP/1001`; `state` NOT_INUSE, INUSE, RINGING, BUSY,
    UNAVAILABLE, INVALID, ONHOLD, RINGINUSE, UNKNOWN. Also the items of DeviceStateList."""

    NAME: ClassVar[str] = "DeviceStateChange"
    device: str = ""
    state: str = ""


@dataclass(frozen=True)
class ContactStatus(AmiEvent):
    """`contact_status`: Created, Removed, Reachable, Unreachable, NonQualified, Updated."""

    NAME: ClassVar[str] = "ContactStatus"
    uri: str = ""
    contact_status: str = ""
    aor: str = ""
    endpoint_name: str = ""
    roundtrip_usec: int = 0


@dataclass(frozen=True)
class ContactStatusDetail(AmiEvent):
    """Contact details from PJSIPShowEndpoint."""

    NAME: ClassVar[str] = "ContactStatusDetail"
    aor: str = ""
    uri: str = ""
    status: str = ""
    endpoint_name: str = ""
    user_agent: str = ""
    reg_expire: int = 0
    via_address: str = ""
    call_id: str = ""
    roundtrip_usec: int = 0
    qualify_frequency: int = 0


@dataclass(frozen=True)
class ContactList(AmiEvent):
    """An item of PJSIPShowContacts: REGISTERED contacts only (static `contact=` on an
    aor is not listed; use PJSIPShowAors). `status`: Reachable, Unreachable,
    NonQualified..."""

    NAME: ClassVar[str] = "ContactList"
    object_name: str = ""
    uri: str = ""
    endpoint: str = ""
    status: str = ""
    via_addr: str = ""
    via_port: int = 0
    call_id: str = ""
    user_agent: str = ""
    expiration_time: int = 0
    qualify_frequency: int = 0
    roundtrip_usec: int = 0  # "N/A" before the first qualify -> 0


@dataclass(frozen=True)
class AorList(AmiEvent):
    """An item of PJSIPShowAors; `contacts` is "aor/uri[,aor/uri...]" (static and
    registered), empty when nothing is registered."""

    NAME: ClassVar[str] = "AorList"
    object_name: str = ""
    contacts: str = ""
    max_contacts: int = 0
    qualify_frequency: int = 0

    @property
    def contact_uris(self) -> list[str]:
        return [c.partition("/")[2] for c in self.contacts.split(",") if c]


@dataclass(frozen=True)
class PeerStatus(AmiEvent):
    NAME: ClassVar[str] = "PeerStatus"
    channel_type: str = ""
    peer: str = ""
    peer_status: str = ""


@dataclass(frozen=True)
class OriginateResponse(AmiEvent):
    """The result of an async Originate, tied to it by `action_id`. `reason`: 4 answered,
    0 failed/no such endpoint, 1 hung up, 3 no answer (ring timeout), 5 busy, 8 congestion.
    `response` is Success or Failure; `uniqueid` is the ChannelId you chose."""

    NAME: ClassVar[str] = "OriginateResponse"
    response: str = ""
    channel: str = ""
    context: str = ""
    exten: str = ""
    reason: int = 0
    uniqueid: str = ""
    caller_id_num: str = ""
    caller_id_name: str = ""

    @property
    def answered(self) -> bool:
        return self.reason == 4


@dataclass(frozen=True)
class CoreShowChannel(ChannelEvent):
    """An item of CoreShowChannels: a live channel and what it is doing."""

    NAME: ClassVar[str] = "CoreShowChannel"
    application: str = ""
    application_data: str = ""
    duration: str = ""
    bridge_id: str = ""


@dataclass(frozen=True)
class FullyBooted(AmiEvent):
    NAME: ClassVar[str] = "FullyBooted"
    status: str = ""
    uptime: int = 0
    last_reload: int = 0


@dataclass(frozen=True)
class Shutdown(AmiEvent):
    NAME: ClassVar[str] = "Shutdown"
    shutdown: str = ""
    restart: str = ""


@dataclass(frozen=True)
class OtherEvent(AmiEvent):
    """An event this module does not model; `headers` keeps the raw header names."""

    headers: Mapping[str, str | tuple[str, ...]] = field(
        default_factory=lambda: types.MappingProxyType({})
    )


@dataclass(frozen=True)
class LinkUp:
    """The AMI link is (again) logged in, FullyBooted and filtered: rebuild state now."""

    generation: int


@dataclass(frozen=True)
class LinkDown:
    """The AMI link dropped; events until the next LinkUp are lost."""

    generation: int
    reason: str


Event = AmiEvent | LinkUp | LinkDown

EVENT_TYPES: dict[str, type[AmiEvent]] = {
    cls.NAME: cls
    for cls in (
        Newchannel,
        Newstate,
        Hangup,
        HangupRequest,
        DialBegin,
        DialEnd,
        BridgeEnter,
        BridgeLeave,
        VarSet,
        UserEvent,
        DeviceStateChange,
        ContactStatus,
        ContactStatusDetail,
        ContactList,
        AorList,
        PeerStatus,
        OriginateResponse,
        CoreShowChannel,
        FullyBooted,
        Shutdown,
    )
}

_CHANNEL_HEADERS = {f.name for f in dataclasses.fields(ChannelEvent)}
# panoramisk's Message also carries the response body as a "content" key
_NOT_USER_FIELDS = {"Event", "Privilege", "ActionID", "UserEvent", "content"}


def from_message(headers: Mapping[str, Any]) -> AmiEvent:
    """Convert one AMI event (panoramisk Message or any header mapping) to its dataclass."""
    name = _first(headers.get("Event", ""))
    cls = EVENT_TYPES.get(name)
    if cls is None:
        raw = {
            k: tuple(v) if isinstance(v, list) else v for k, v in headers.items() if k != "content"
        }
        return OtherEvent(
            event=name,
            action_id=_first(headers.get("ActionID", "")),
            headers=types.MappingProxyType(raw),
        )
    plan = _header_plan(cls)
    kwargs: dict[str, Any] = {}
    for key, value in headers.items():
        step = plan.get(key, _UNSEEN)
        if step is _UNSEEN:
            step = _learn_header(cls, plan, key)
        if step is not None:
            field_name, convert = step
            kwargs[field_name] = convert(value)
    if cls is UserEvent:
        kwargs["fields"] = types.MappingProxyType(
            {
                k: _first(v)
                for k, v in headers.items()
                if k not in _NOT_USER_FIELDS and snake_case(k) not in _CHANNEL_HEADERS
            }
        )
    return cls(**kwargs)


_plans: dict[type, dict[str, Callable[[Any], Any]]] = {}

_Step = tuple[str, Callable[[Any], Any]] | None
_UNSEEN: Any = object()
#: Raw header names remembered per class (Asterisk's set is small; a bound all the same).
_MAX_HEADERS = 1024
_header_plans: dict[type, dict[str, _Step]] = {}


def _header_plan(cls: type) -> dict[str, _Step]:
    """raw header name (`CallerIDNum`) -> (field, converter), or None for a header the
    class does not declare: one dict look-up per header instead of a snake_case and a
    field look-up (every event of a busy PBX passes here)."""
    plan = _header_plans.get(cls)
    if plan is None:
        plan = _header_plans[cls] = {}
    return plan


def _learn_header(cls: type, plan: dict[str, _Step], key: str) -> _Step:
    field_name = snake_case(key)
    convert = _plan(cls).get(field_name)
    step = None if convert is None else (field_name, convert)
    if len(plan) < _MAX_HEADERS:
        plan[key] = step
    return step


def _plan(cls: type) -> dict[str, Callable[[Any], Any]]:
    """field name -> converter, once per class (a busy PBX sends thousands of events/s)."""
    plan = _plans.get(cls)
    if plan is None:
        hints = typing.get_type_hints(cls)
        plan = _plans[cls] = {
            f.name: _converter(hints[f.name]) for f in dataclasses.fields(cls) if f.name != "fields"
        }
    return plan


def _converter(hint: Any) -> Callable[[Any], Any]:
    if hint is int:
        return _to_int
    if typing.get_origin(hint) is tuple:
        return _to_tuple
    return _first


def _to_int(value: Any) -> int:
    try:
        return int(_first(value))
    except ValueError:
        return 0


def _to_tuple(value: Any) -> tuple[str, ...]:
    return tuple(value) if isinstance(value, list | tuple) else (value,)


def _first(value: Any) -> str:
    if type(value) is str:  # the common case, first
        return value
    if isinstance(value, list | tuple):
        return str(value[0]) if value else ""
    return str(value)
