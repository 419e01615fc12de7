"""The admin YAML: one typed, validated object for the whole deployment.

`load_admin_config(path)` returns an `AdminConfig` or raises `ConfigInvalid` listing
every problem at once, each with its YAML path and line, e.g.
``admin.yaml:31: entry_points[2].service: unknown service 'bookin' (known: billing, booking)``.

Secrets are never in the file: it names the environment variables that hold them
(``secret_env: IMPLUS_AMI_SECRET``), read by `admin_config.secrets` only when needed.
The format is documented in docs/admin-config.md; examples/admin.yaml is an example.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    Field,
    StringConstraints,
    field_validator,
)

from admin_config import names, patterns
from admin_config.errors import ConfigInvalid
from admin_config.fields import (
    ContextName,
    Digits,
    EndpointName,
    EnvName,
    Extension,
    FreeText,
    Host,
    Language,
    Name,
    Port,
    Slug,
    _Model,
)
from admin_config.overflow import Overflow
from admin_config.recording import RECORDINGS_DIR, Recording
from admin_config.supervisors import Supervisor
from admin_config.webrtc import Phone, WebrtcSettings

PbxKind = Literal["asterisk", "freeswitch"]
PBX_KINDS: tuple[str, ...] = ("asterisk", "freeswitch")
CHANNELS = ("voice", "chat", "voip")

DEFAULT_AMI_PORT = 5038
DEFAULT_ESL_PORT = 8021


# --- PBX connections -------------------------------------------------------------------


class _PbxBase(_Model):
    id: Name
    host: Host = "127.0.0.1"
    """Management link host (AMI for Asterisk, ESL for FreeSWITCH)."""
    port: Port | None = None
    secret_env: EnvName
    """Environment variable holding the AMI secret / ESL password."""
    sip_host: Host | None = None
    """Where the other PBX sends SIP to reach this one (needed by inter-PBX trunks)."""
    sip_port: Port | None = None
    config_dir: str | None = None
    """Where `implus dialplan apply` installs the generated include files."""
    phone_context: ContextName = "default"
    """Dialplan context for calls the agents' own phones place."""
    webrtc: WebrtcSettings | None = None
    """Browser VoIP through the chat service's relay (docs/voip.md); None = off."""
    recordings_dir: Annotated[str, StringConstraints(pattern=RECORDINGS_DIR)] | None = None
    """Where the PBX writes call recordings (as the PBX sees it; `recordings_root`)."""

    @property
    def management_port(self) -> int:
        raise NotImplementedError

    @property
    def recordings_root(self) -> str:
        """Where this PBX writes recordings (its own view of the file system)."""
        return self.recordings_dir or self._default_recordings

    _default_recordings: ClassVar[str] = ""


class AsteriskPbx(_PbxBase):
    """An Asterisk server: AMI for the bridge and for reloads; PJSIP for phones and trunks."""

    kind: Literal["asterisk"] = "asterisk"
    _default_recordings: ClassVar[str] = "/var/spool/asterisk/monitor/implus"
    username: Annotated[str, StringConstraints(pattern=names.CONTEXT)] = "implus"
    """The AMI user the bridge logs in as; rendered into manager_implus.conf."""
    ami_permit: tuple[Annotated[str, StringConstraints(pattern=names.NETWORK)], ...] = (
        "127.0.0.1/255.255.255.255",
    )
    ami_writetimeout: Annotated[int, Field(ge=100, le=60000)] = 5000
    """Milliseconds before Asterisk drops a slow AMI reader (its default is 100)."""
    transport: ContextName | None = None
    """Name of the pjsip transport section the generated endpoints use (optional)."""
    codecs: tuple[Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{2,20}$")], ...] = (
        "ulaw",
        "alaw",
    )
    qualify_seconds: Annotated[int, Field(ge=0, le=3600)] = 0
    """OPTIONS ping interval for agent phones (0 = off; registration state still counts)."""

    @property
    def management_port(self) -> int:
        return self.port or DEFAULT_AMI_PORT

    @property
    def default_sip_port(self) -> int:
        return self.sip_port or 5060

    @property
    def install_dir(self) -> str:
        return self.config_dir or "/etc/asterisk"


class FreeswitchPbx(_PbxBase):
    """A FreeSWITCH server: ESL for the bridge and for `reloadxml`; XML includes."""

    kind: Literal["freeswitch"] = "freeswitch"
    _default_recordings: ClassVar[str] = "/var/lib/freeswitch/recordings/implus"
    domain: Annotated[str, StringConstraints(pattern=names.FS_DOMAIN)] = "$${domain}"
    """Directory domain of the agents' users (FreeSWITCH's global `domain` by default)."""
    directory: ContextName = "default"
    """The `directory/<name>/` folder whose users include the generated agents file."""
    inbound_contexts: tuple[ContextName, ...] = ("public",)
    """Contexts where external calls arrive; each gets a file sending entry numbers on."""
    gateway_profile: ContextName = "external"
    """The sofia profile whose `<gateways>` include the generated gateways file."""
    agent_profile: ContextName = "internal"
    """The sofia profile agents' phones use (for static contacts)."""

    @property
    def management_port(self) -> int:
        return self.port or DEFAULT_ESL_PORT

    @property
    def default_sip_port(self) -> int:
        return self.sip_port or 5080

    @property
    def install_dir(self) -> str:
        return self.config_dir or "/etc/freeswitch"


Pbx = AsteriskPbx | FreeswitchPbx


# --- services, entry points -------------------------------------------------------------


class Service(_Model):
    """A service type (booking, billing...): the unit of a customer's session."""

    id: Name
    label: FreeText = ""
    outbound_trunk: Slug | None = None
    """Trunk for this service's outbound calls (else the PBX's default trunk)."""
    recording: Recording | None = None
    """Call recording of this service (off without it; docs/admin-config.md)."""


class EntryPoint(_Model):
    """A number/extension callers dial, bound to a service and a PBX."""

    id: Slug
    pbx: Name
    extension: Extension
    service: Name
    label: FreeText = ""
    language: Language = "en"
    music_class: Annotated[str, StringConstraints(max_length=200)] | None = None
    """Asterisk: a musiconhold class. FreeSWITCH: a playable source (local_stream://moh)."""
    max_wait: Annotated[int, Field(ge=1, le=86400)] = 300
    """Seconds the router may keep the caller waiting before the overflow."""
    overflow: Overflow = Field(default_factory=Overflow)
    media: Literal["voice", "voip"] = "voice"
    """``voip``: the customers' "Call us" line from the browser (needs the PBX's webrtc)."""

    @field_validator("extension")
    @classmethod
    def _pattern_syntax(cls, value: str) -> str:
        problems = patterns.pattern_problems(value)
        if problems:
            raise ValueError(f"bad pattern {value!r}: {'; '.join(problems)}")
        return value


# --- agents ----------------------------------------------------------------------------


class Capacity(_Model):
    """How many contacts of each channel an agent takes at once."""

    voice: Annotated[int, Field(ge=0, le=100)] = 1
    chat: Annotated[int, Field(ge=0, le=100)] = 3
    voip: Annotated[int, Field(ge=0, le=100)] = 1

    def as_dict(self) -> dict[str, int]:
        return {c: getattr(self, c) for c in CHANNELS}


class Agent(_Model):
    """An agent: router profile (skills, capacity) and SIP phone on a home PBX."""

    id: Name
    name: FreeText = ""
    pbx: Name | None = None
    """Home PBX id: where the agent's phone registers."""
    endpoint: EndpointName | None = None
    """SIP user of the agent's phone (pjsip endpoint / FreeSWITCH directory user)."""
    password_env: EnvName | None = None
    """Environment variable holding the phone's SIP password."""
    contact: Annotated[str, StringConstraints(pattern=names.SIP_URI)] | None = None
    """Static SIP contact for a phone that does not register."""
    phone: Phone = "sip"
    """``webrtc``: the agent desktop's softphone registers as `endpoint` (docs/voip.md)."""
    skills: dict[Name, Annotated[int, Field(ge=0, le=1000)]] = Field(default_factory=dict)
    capacity: Capacity = Field(default_factory=Capacity)

    @property
    def display_name(self) -> str:
        return self.name or self.id

    @property
    def takes_calls(self) -> bool:
        """Agents with voice or VoIP capacity need a phone; chat-only agents do not."""
        return self.capacity.voice > 0 or self.capacity.voip > 0


# --- trunks ----------------------------------------------------------------------------


class OutboundTrunk(_Model):
    """A SIP trunk of one PBX to a carrier, for calling customers."""

    id: Slug
    kind: Literal["outbound"] = "outbound"
    pbx: Name
    host: Host | None = None
    port: Port = 5060
    transport: Literal["udp", "tcp", "tls"] = "udp"
    gateway: ContextName | None = None
    """FreeSWITCH: use this existing gateway instead of rendering one from host/port."""
    username: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.+-]{1,64}$")] | None = None
    secret_env: EnvName | None = None
    registration: bool = Field(False, alias="register")
    """Register with the carrier (YAML key `register`)."""
    dial_prefix: Digits = ""
    """Prepended to the customer's number when dialling through this trunk."""
    ring_timeout: Annotated[int, Field(ge=5, le=600)] = 60
    default: bool = False
    """The PBX's default trunk for outbound calls (a PBX with one trunk needs no flag)."""
    qualify: Annotated[int, Field(ge=0, le=3600)] = 0
    """Seconds between OPTIONS pings of the carrier (Asterisk qualify_frequency, FreeSWITCH
    gateway `ping`); 0 or `off`: never. A carrier that leaves a ping unanswered is marked
    down and calls to it fail until a later ping is answered, so leave it off for
    carriers that ignore OPTIONS (docs/admin-config.md)."""

    @field_validator("qualify", mode="before")
    @classmethod
    def _qualify_off(cls, value: Any) -> Any:
        # YAML reads `off`/`no` as false; `on`/`yes`/true says nothing about how often.
        if value is False or (isinstance(value, str) and value.lower() in ("off", "no")):
            return 0
        if value is True or (isinstance(value, str) and value.lower() in ("on", "yes")):
            raise ValueError("give the seconds between OPTIONS pings (e.g. 60), or 0 / off")
        return value


class InterPbxTrunk(_Model):
    """A SIP trunk between two PBXs, so a caller on one can ring an agent on the other."""

    id: Slug
    kind: Literal["inter_pbx"] = "inter_pbx"
    pbxs: tuple[Name, Name]

    def other(self, pbx_id: str) -> str:
        a, b = self.pbxs
        return b if pbx_id == a else a


Trunk = OutboundTrunk | InterPbxTrunk


# --- the whole file --------------------------------------------------------------------


class AdminConfig(_Model):
    """The validated admin YAML. Build it with `load_admin_config`."""

    version: Literal[1] = 1
    strategy: str
    """Strategy file path, relative to the admin YAML file."""
    redis_url_env: EnvName = "IMPLUS_REDIS_URL"
    hold_margin: Annotated[int, Field(ge=0, le=3600)] = 15
    """Seconds the dialplan holds past max_wait before it overflows on its own."""
    pbxs: tuple[Annotated[Pbx, Field(discriminator="kind")], ...] = ()
    services: tuple[Service, ...] = ()
    entry_points: tuple[EntryPoint, ...] = ()
    agents: tuple[Agent, ...] = ()
    trunks: tuple[Annotated[Trunk, Field(discriminator="kind")], ...] = ()
    supervisors: tuple[Supervisor, ...] = ()
    source: Path | None = Field(default=None, exclude=True)
    """The file this was loaded from (strategy paths are relative to it)."""

    @property
    def strategy_path(self) -> Path:
        base = self.source.parent if self.source else Path.cwd()
        return (base / self.strategy).resolve()

    @cached_property
    def _by_id(self) -> dict[str, dict[str, Any]]:
        return {
            "pbxs": {p.id: p for p in self.pbxs},
            "services": {s.id: s for s in self.services},
            "entry_points": {e.id: e for e in self.entry_points},
            "agents": {a.id: a for a in self.agents},
            "trunks": {t.id: t for t in self.trunks},
            "supervisors": {s.id: s for s in self.supervisors},
        }

    def pbx(self, pbx_id: str) -> Pbx:
        return self._by_id["pbxs"][pbx_id]

    def service(self, service_id: str) -> Service:
        return self._by_id["services"][service_id]

    def entry_point(self, entry_id: str) -> EntryPoint:
        return self._by_id["entry_points"][entry_id]

    def agent(self, agent_id: str) -> Agent:
        return self._by_id["agents"][agent_id]

    def trunk(self, trunk_id: str) -> Trunk:
        return self._by_id["trunks"][trunk_id]

    def supervisor(self, supervisor_id: str) -> Supervisor:
        return self._by_id["supervisors"][supervisor_id]

    def entry_points_on(self, pbx_id: str) -> Iterator[EntryPoint]:
        return (e for e in self.entry_points if e.pbx == pbx_id)

    def agents_on(self, pbx_id: str) -> Iterator[Agent]:
        """Agents whose phone is on `pbx_id` (chat-only agents have none)."""
        return (a for a in self.agents if a.pbx == pbx_id and a.endpoint)

    def phones_on(self, pbx_id: str) -> Iterator[Agent]:
        """Every phone the PBX serves: agents', and supervisors' (as agents taking no
        contacts), for the generated endpoints / directory users."""
        yield from self.agents_on(pbx_id)
        for s in self.supervisors:
            if s.pbx == pbx_id:
                yield Agent(**s.phone_fields(), capacity=Capacity(voice=0, chat=0, voip=0))

    def outbound_trunks_on(self, pbx_id: str) -> Iterator[OutboundTrunk]:
        return (t for t in self.trunks if isinstance(t, OutboundTrunk) and t.pbx == pbx_id)

    def inter_pbx_trunks_of(self, pbx_id: str) -> Iterator[InterPbxTrunk]:
        return (t for t in self.trunks if isinstance(t, InterPbxTrunk) and pbx_id in t.pbxs)

    def inter_pbx_trunk(self, a: str, b: str) -> InterPbxTrunk | None:
        """The trunk linking PBXs `a` and `b` (first one declared), if any."""
        for t in self.inter_pbx_trunks_of(a):
            if t.other(a) == b:
                return t
        return None

    def default_trunk(self, pbx_id: str) -> OutboundTrunk | None:
        """The trunk marked `default: true` on the PBX, else its only/first trunk."""
        trunks = list(self.outbound_trunks_on(pbx_id))
        for t in trunks:
            if t.default:
                return t
        return trunks[0] if trunks else None

    def pbxs_of_kind(self, kind: str) -> list[Pbx]:
        return [p for p in self.pbxs if p.kind == kind]


def load_admin_config(path: str | Path) -> AdminConfig:
    """Read, validate and cross-check the admin YAML at `path`.

    Raises `ConfigInvalid` with every problem found (YAML path, line, message); warnings
    alone (e.g. a secret variable not set in this shell) do not make it fail.
    """
    from admin_config.validate import validate_file

    result = validate_file(path)
    if result.errors or result.config is None:
        raise ConfigInvalid(result.errors or result.problems, str(path))
    return result.config


def _model_for(section: str, raw: Any) -> type[BaseModel] | None:
    """Which model validates one item of a section (PBXs and trunks depend on `kind`)."""
    if section == "pbxs":
        kind = raw.get("kind") if isinstance(raw, dict) else None
        if kind == "asterisk":
            return AsteriskPbx
        if kind == "freeswitch":
            return FreeswitchPbx
        return None
    if section == "trunks":
        kind = raw.get("kind", "outbound") if isinstance(raw, dict) else None
        if kind == "outbound":
            return OutboundTrunk
        if kind == "inter_pbx":
            return InterPbxTrunk
        return None
    models: dict[str, type[BaseModel]] = {
        "services": Service,
        "entry_points": EntryPoint,
        "agents": Agent,
        "supervisors": Supervisor,
    }
    return models[section]


SECTIONS = ("pbxs", "services", "entry_points", "agents", "trunks", "supervisors")
KIND_CHOICES = {"pbxs": PBX_KINDS, "trunks": ("outbound", "inter_pbx")}
