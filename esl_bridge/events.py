"""FreeSWITCH events as frozen dataclasses: the only shape of an event past the ESL edge.

`event_from_raw` turns a decoded event (header names such as `Caller-Destination-Number`)
into one of the classes below with snake_case fields. Only what the bridge needs is kept;
channel variables (`variable_*`) stay available as a read-only mapping without the prefix.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import ClassVar

from esl_bridge.errors import EslProtocolError
from esl_bridge.wire import RawEvent

_NO_VARIABLES: Mapping[str, str] = MappingProxyType({})


def _int(value: str | None) -> int | None:
    if value is None or not value.strip().lstrip("-").isdigit():
        return None
    return int(value)


@dataclass(frozen=True)
class ChannelEvent:
    """A CHANNEL_* event (CHANNEL_CREATE, _ANSWER, _PARK, _BRIDGE, _HANGUP_COMPLETE, ...)."""

    name: str
    unique_id: str
    call_uuid: str | None = None
    direction: str | None = None
    channel_name: str | None = None
    channel_state: str | None = None
    call_state: str | None = None
    answer_state: str | None = None
    caller_id_number: str | None = None
    caller_id_name: str | None = None
    destination_number: str | None = None
    hangup_cause: str | None = None
    bridge_a_unique_id: str | None = None
    bridge_b_unique_id: str | None = None
    other_leg_unique_id: str | None = None
    application: str | None = None
    application_data: str | None = None
    variables: Mapping[str, str] = field(default_factory=lambda: _NO_VARIABLES, compare=False)
    core_uuid: str | None = None
    sequence: int | None = None
    timestamp_us: int | None = None

    def variable(self, name: str) -> str | None:
        """Channel variable `name` (as set in the dialplan, without `variable_`), or None."""
        return self.variables.get(name)


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
    return ChannelEvent(
        name=name,
        unique_id=unique_id,
        call_uuid=raw.get("Channel-Call-UUID"),
        direction=raw.get("Call-Direction"),
        channel_name=raw.get("Channel-Name"),
        channel_state=raw.get("Channel-State"),
        call_state=raw.get("Channel-Call-State"),
        answer_state=raw.get("Answer-State"),
        caller_id_number=raw.get("Caller-Caller-ID-Number"),
        caller_id_name=raw.get("Caller-Caller-ID-Name"),
        destination_number=raw.get("Caller-Destination-Number"),
        hangup_cause=raw.get("Hangup-Cause"),
        bridge_a_unique_id=raw.get("Bridge-A-Unique-ID"),
        bridge_b_unique_id=raw.get("Bridge-B-Unique-ID"),
        other_leg_unique_id=raw.get("Other-Leg-Unique-ID"),
        application=raw.get("Application"),
        application_data=raw.get("Application-Data"),
        variables=ChannelVariables(raw),
        core_uuid=raw.get("Core-UUID"),
        sequence=_int(raw.get("Event-Sequence")),
        timestamp_us=_int(raw.get("Event-Date-Timestamp")),
    )


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
