"""FreeSWITCH events as read-only objects: the only shape of an event past the ESL edge.

`event_from_raw` turns a decoded event (header names such as `Caller-Destination-Number`)
into one of the classes below with snake_case fields. Only what the bridge needs is kept;
channel variables (`variable_*`) stay available as a read-only mapping without the prefix.
A channel event's fields are read from its headers when asked for (`ChannelEvent`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import ClassVar, overload

from esl_bridge.errors import EslProtocolError
from esl_bridge.wire import RawEvent


def _int(value: str | None) -> int | None:
    if value is None or not value.strip().lstrip("-").isdigit():
        return None
    return int(value)


class _Header:
    """A `ChannelEvent` field: header `name` of the event, read when the field is asked for."""

    __slots__ = ("header",)

    def __init__(self, header: str) -> None:
        self.header = header

    @overload
    def __get__(self, event: None, owner: type) -> _Header: ...
    @overload
    def __get__(self, event: ChannelEvent, owner: type) -> str | None: ...
    def __get__(self, event: ChannelEvent | None, owner: type) -> str | _Header | None:
        return self if event is None else event._raw.get(self.header)


class _IntHeader(_Header):
    """A numeric `ChannelEvent` field (None when absent or not a number)."""

    @overload  # type: ignore[override]
    def __get__(self, event: None, owner: type) -> _IntHeader: ...
    @overload
    def __get__(self, event: ChannelEvent, owner: type) -> int | None: ...
    def __get__(self, event: ChannelEvent | None, owner: type) -> int | _IntHeader | None:
        return self if event is None else _int(event._raw.get(self.header))


class ChannelEvent:
    """A CHANNEL_* event (CHANNEL_CREATE, _ANSWER, _PARK, _BRIDGE, _HANGUP_COMPLETE, ...).

    Read-only. Its fields are the event's headers, each read when first asked for: a
    channel event has ~150-220 headers and the bridge reads 2-8 fields of most events (a
    typed event built whole read ~20 headers, 6 of them absent and searched for in
    another spelling: more than decoding the event cost)."""

    __slots__ = ("_raw", "name", "unique_id")

    call_uuid = _Header("Channel-Call-UUID")
    direction = _Header("Call-Direction")
    channel_name = _Header("Channel-Name")
    channel_state = _Header("Channel-State")
    call_state = _Header("Channel-Call-State")
    answer_state = _Header("Answer-State")
    caller_id_number = _Header("Caller-Caller-ID-Number")
    caller_id_name = _Header("Caller-Caller-ID-Name")
    destination_number = _Header("Caller-Destination-Number")
    hangup_cause = _Header("Hangup-Cause")
    bridge_a_unique_id = _Header("Bridge-A-Unique-ID")
    bridge_b_unique_id = _Header("Bridge-B-Unique-ID")
    other_leg_unique_id = _Header("Other-Leg-Unique-ID")
    application = _Header("Application")
    application_data = _Header("Application-Data")
    core_uuid = _Header("Core-UUID")
    sequence = _IntHeader("Event-Sequence")
    timestamp_us = _IntHeader("Event-Date-Timestamp")

    FIELDS = (
        "name",
        "unique_id",
        "call_uuid",
        "direction",
        "channel_name",
        "channel_state",
        "call_state",
        "answer_state",
        "caller_id_number",
        "caller_id_name",
        "destination_number",
        "hangup_cause",
        "bridge_a_unique_id",
        "bridge_b_unique_id",
        "other_leg_unique_id",
        "application",
        "application_data",
        "core_uuid",
        "sequence",
        "timestamp_us",
    )
    """The fields compared by `==` (the variables are not)."""

    name: str
    unique_id: str
    _raw: RawEvent

    def __init__(self, name: str, unique_id: str, raw: RawEvent) -> None:
        setattr_ = object.__setattr__  # as a frozen dataclass: read-only once made
        setattr_(self, "name", name)
        setattr_(self, "unique_id", unique_id)
        setattr_(self, "_raw", raw)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"a ChannelEvent is read-only: cannot set {name}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"a ChannelEvent is read-only: cannot delete {name}")

    @property
    def variables(self) -> Mapping[str, str]:
        """The channel variables (`variable_*` headers, without the prefix)."""
        return ChannelVariables(self._raw)

    def variable(self, name: str) -> str | None:
        """Channel variable `name` (as set in the dialplan, without `variable_`), or None."""
        return self._raw.get_exact("variable_" + name)

    def _values(self) -> tuple[object, ...]:
        return tuple(getattr(self, f) for f in self.FIELDS)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not ChannelEvent:
            return NotImplemented
        assert isinstance(other, ChannelEvent)
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        values = zip(self.FIELDS, self._values(), strict=True)
        shown = ", ".join(f"{f}={v!r}" for f, v in values if v)
        return f"ChannelEvent({shown})"


@dataclass(frozen=True)
class BackgroundJob:
    """BACKGROUND_JOB: the result of a `bgapi` command (its body), matched by job UUID."""

    name: ClassVar[str] = "BACKGROUND_JOB"
    job_uuid: str
    command: str | None
    command_arg: str | None
    body: str
    core_uuid: str | None = None
    sequence: int | None = None

    @property
    def ok(self) -> bool:
        """True if FreeSWITCH reported success (`+OK ...`)."""
        return self.body.startswith("+OK")

    @property
    def result(self) -> str:
        """The answer without its `+OK `/`-ERR ` marker, e.g. the originated UUID or a cause."""
        text = self.body.strip()
        for marker in ("+OK", "-ERR", "-USAGE:"):
            if text.startswith(marker):
                return text[len(marker) :].strip()
        return text


@dataclass(frozen=True)
class Registration:
    """CUSTOM sofia::register / sofia::unregister / sofia::expire: a SIP phone (un)registering."""

    name: ClassVar[str] = "CUSTOM"
    subclass: str
    user: str | None
    host: str | None
    profile_name: str | None = None
    contact: str | None = None
    call_id: str | None = None
    status: str | None = None
    expires: int | None = None
    network_ip: str | None = None
    network_port: str | None = None
    username: str | None = None
    realm: str | None = None
    user_agent: str | None = None
    sequence: int | None = None

    @property
    def registered(self) -> bool:
        """True for a (re-)registration, False when the phone unregistered or expired."""
        return self.subclass == "sofia::register"


@dataclass(frozen=True)
class PresenceIn:
    """PRESENCE_IN: presence of a SIP user (`from` is `user@host`)."""

    name: ClassVar[str] = "PRESENCE_IN"
    from_: str | None
    status: str | None = None
    rpid: str | None = None
    login: str | None = None
    proto: str | None = None
    event_type: str | None = None
    answer_state: str | None = None
    channel_state: str | None = None
    unique_id: str | None = None
    sequence: int | None = None


@dataclass(frozen=True)
class DialplanEvent:
    """CUSTOM implus::overflow / implus::outbound, raised by the generated dialplan's `event`
    application (docs/call-flow.md). The application adds the channel's data, so the event
    names the channel (`Unique-ID`) it happened on."""

    name: ClassVar[str] = "CUSTOM"
    subclass: str
    unique_id: str | None
    service: str | None = None
    entry: str | None = None
    destination: str | None = None
    trunk: str | None = None
    dial: str | None = None
    agent: str | None = None
    sequence: int | None = None


@dataclass(frozen=True)
class OtherEvent:
    """Any other event (HEARTBEAT, an unhandled CUSTOM subclass, ...): only its identity."""

    name: str
    subclass: str | None = None
    unique_id: str | None = None
    sequence: int | None = None


EslEvent = ChannelEvent | BackgroundJob | Registration | PresenceIn | DialplanEvent | OtherEvent


def subclass_of(event: EslEvent) -> str | None:
    """The Event-Subclass of a CUSTOM event, None for the others."""
    return event.subclass if isinstance(event, Registration | DialplanEvent | OtherEvent) else None


REGISTRATION_SUBCLASSES = frozenset({"sofia::register", "sofia::unregister", "sofia::expire"})
DIALPLAN_SUBCLASSES = frozenset({"implus::overflow", "implus::outbound"})


class ChannelVariables(Mapping[str, str]):
    """A channel event's variables (`variable_*` headers, without the prefix; the first
    value of a repeated one). Looking one up reads the event's headers directly; the whole
    mapping is only built when iterated (the bridge reads 1-3 of ~100 per event)."""

    __slots__ = ("_all", "_raw")

    def __init__(self, raw: RawEvent) -> None:
        self._raw = raw
        self._all: dict[str, str] | None = None

    def get(self, name: str, default: str | None = None) -> str | None:  # type: ignore[override]
        value = self._raw.get_exact("variable_" + name)
        return default if value is None else value

    def __getitem__(self, name: str) -> str:
        value = self._raw.get_exact("variable_" + name)
        if value is None:
            raise KeyError(name)
        return value

    def _everything(self) -> dict[str, str]:
        if self._all is None:
            found: dict[str, str] = {}
            for name, value in self._raw.headers:
                if name.startswith("variable_"):
                    found.setdefault(name[len("variable_") :], value)
            self._all = found
        return self._all

    def __iter__(self) -> Iterator[str]:
        return iter(self._everything())

    def __len__(self) -> int:
        return len(self._everything())

    def __repr__(self) -> str:
        return f"ChannelVariables({self._everything()!r})"


def _channel_event(name: str, raw: RawEvent) -> ChannelEvent:
    unique_id = raw.get("Unique-ID")
    if not unique_id:
        raise EslProtocolError(f"{name} event without Unique-ID")
    return ChannelEvent(name, unique_id, raw)


def _background_job(raw: RawEvent) -> BackgroundJob:
    job_uuid = raw.get("Job-UUID")
    if not job_uuid:
        raise EslProtocolError("BACKGROUND_JOB event without Job-UUID")
    return BackgroundJob(
        job_uuid=job_uuid,
        command=raw.get("Job-Command"),
        command_arg=raw.get("Job-Command-Arg"),
        body=raw.body or "",
        core_uuid=raw.get("Core-UUID"),
        sequence=_int(raw.get("Event-Sequence")),
    )


def _registration(subclass: str, raw: RawEvent) -> Registration:
    return Registration(
        subclass=subclass,
        user=raw.get("from-user"),
        host=raw.get("from-host"),
        profile_name=raw.get("profile-name"),
        contact=raw.get("contact"),
        call_id=raw.get("call-id"),
        status=raw.get("status"),
        expires=_int(raw.get("expires")),
        network_ip=raw.get("network-ip"),
        network_port=raw.get("network-port"),
        username=raw.get("username"),
        realm=raw.get("realm"),
        user_agent=raw.get("user-agent"),
        sequence=_int(raw.get("Event-Sequence")),
    )


def _dialplan_event(subclass: str, raw: RawEvent) -> DialplanEvent:
    return DialplanEvent(
        subclass=subclass,
        unique_id=raw.get("Unique-ID"),
        service=raw.get("Implus-Service"),
        entry=raw.get("Implus-Entry"),
        destination=raw.get("Implus-Destination"),
        trunk=raw.get("Implus-Trunk"),
        dial=raw.get("Implus-Dial"),
        agent=raw.get("Implus-Agent"),
        sequence=_int(raw.get("Event-Sequence")),
    )


def _presence_in(raw: RawEvent) -> PresenceIn:
    return PresenceIn(
        from_=raw.get("from"),
        status=raw.get("status"),
        rpid=raw.get("rpid"),
        login=raw.get("login"),
        proto=raw.get("proto"),
        event_type=raw.get("event_type"),
        answer_state=raw.get("answer-state"),
        channel_state=raw.get("channel-state"),
        unique_id=raw.get("unique-id"),
        sequence=_int(raw.get("Event-Sequence")),
    )


def event_from_raw(raw: RawEvent) -> EslEvent:
    """The typed event for a decoded FreeSWITCH event.

    Raises EslProtocolError for an event without Event-Name, or without the identifier its
    kind cannot do without (Unique-ID of a channel event, Job-UUID of a background job).
    """
    name = raw.get("Event-Name")
    if not name:
        raise EslProtocolError("event without Event-Name")
    if name.startswith("CHANNEL_"):
        return _channel_event(name, raw)
    if name == "BACKGROUND_JOB":
        return _background_job(raw)
    subclass = raw.get("Event-Subclass")
    if name == "CUSTOM" and subclass is not None and subclass in REGISTRATION_SUBCLASSES:
        return _registration(subclass, raw)
    if name == "CUSTOM" and subclass is not None and subclass in DIALPLAN_SUBCLASSES:
        return _dialplan_event(subclass, raw)
    if name == "PRESENCE_IN":
        return _presence_in(raw)
    return OtherEvent(
        name=name,
        subclass=subclass,
        unique_id=raw.get("Unique-ID"),
        sequence=_int(raw.get("Event-Sequence")),
    )
