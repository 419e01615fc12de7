"""Names and dial targets fixed by docs/call-flow.md, for the renderers AND the bridges.

The bridges import these instead of re-deriving names, so the generated dialplan and the
AMI/ESL commands cannot drift apart:

    from admin_config.targets import agent_dial_string, overflow_destination
    channel = agent_dial_string(config, "ast1", "alice")     # "PJSIP/1001"
    dest = overflow_destination(config, "booking_en")         # implus-overflow,booking_en,1
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError

from admin_config.errors import NoRoute
from admin_config.model import AdminConfig, Agent, FreeswitchPbx, OutboundTrunk

ENTRY_CONTEXT = "implus-entry"
"""Entry points: one extension per entry point, named by its extension (what callers dial)."""
OVERFLOW_CONTEXT = "implus-overflow"
"""One extension per entry point, named by the entry point id."""
CONNECT_CONTEXT = "implus-connect"
"""Asterisk: a bridge Redirects a waiting caller to extension `s` here to ring an agent
(the caller's own Dial, with the variables below set on the caller first)."""
OUTBOUND_CONTEXT = "implus-outbound"
"""One extension per outbound trunk (named by the trunk id), plus `s` = the default trunk."""
INTER_PBX_CONTEXT = "implus-inter-pbx"
"""Calls arriving over an inter-PBX trunk: this PBX's entry points and agent phones."""

CONNECT_EXTEN = "s"
DEFAULT_TRUNK_EXTEN = "s"
HOLD_LABEL = "hold"
"""Asterisk: label of an entry point's hold step (MusicOnHold), where callers go back to."""

AGENT_DIAL_VAR = "IMPLUS_AGENT_DIAL"
"""Asterisk: set on the caller before the Redirect to `implus-connect`: what Dial() rings
(`agent_dial_string(...)`)."""
RING_VAR = "IMPLUS_RING"
"""Asterisk: seconds Dial() rings the agent (decimals allowed)."""

# Call control (docs/call-flow.md, "Call control"): Asterisk contexts the bridge moves
# channels to; FreeSWITCH needs none (uuid_hold, uuid_bridge, eavesdrop do it).
HELD_CONTEXT = "implus-held"
"""Asterisk: a customer on hold (music) while the agent waits or consults."""
AGENT_HELD_CONTEXT = "implus-agent-held"
"""Asterisk: the agent waits (silence) while the customer is on hold."""
CONSULT_CONTEXT = "implus-consult"
"""Asterisk: the agent's own Dial of a consult target (CONSULT_DIAL_VAR, RING_VAR)."""
SPY_CONTEXT = "implus-spy"
"""Asterisk: a supervisor's phone, answered, runs ChanSpy on SPY_VAR with SPY_MODE_VAR."""
CONSULT_DIAL_VAR = "IMPLUS_CONSULT_DIAL"
SPY_VAR = "IMPLUS_SPY"
"""The Uniqueid of the agent leg to listen to."""
SPY_MODE_VAR = "IMPLUS_SPY_MODE"
"""ChanSpy's mode option: empty (listen), `w` (whisper to the agent) or `B` (barge)."""


def trunk_name(trunk_id: str) -> str:
    """pjsip endpoint/aor name (Asterisk) or gateway name (FreeSWITCH) of a trunk."""
    return f"implus-trunk-{trunk_id}"


@dataclass(frozen=True)
class Destination:
    """A dialplan location: AMI Redirect/Originate (Context, Exten, Priority) or ESL transfer."""

    context: str
    exten: str
    priority: int | str = 1
    """A number, or a label (AMI Redirect and Originate accept both)."""

    def freeswitch(self) -> str:
        """`uuid_transfer <uuid> <this>` / originate's `<exten> XML <context>` argument."""
        return f"{self.exten} XML {self.context}"


def agent_dial_string(config: AdminConfig, pbx_id: str, agent_id: str) -> str:
    """What the bridge of `pbx_id` dials to ring the agent's phone.

    The agent's phone may be on another PBX: then the call goes over the inter-PBX
    trunk, and the other PBX's `implus-inter-pbx` context rings the phone.
    """
    return phone_dial_string(config, pbx_id, config.agent(agent_id))


def supervisor_dial_string(config: AdminConfig, pbx_id: str, supervisor_id: str) -> str:
    """What the bridge of `pbx_id` dials to ring a supervisor's phone (`supervisors:`)."""
    try:
        supervisor = config.supervisor(supervisor_id)
    except KeyError:
        raise NoRoute(
            f"supervisor {supervisor_id!r} has no phone: add them under supervisors: in the "
            "admin YAML"
        ) from None
    return phone_dial_string(config, pbx_id, Agent(**supervisor.phone_fields()))


def phone_dial_string(config: AdminConfig, pbx_id: str, agent: Agent) -> str:
    """How `pbx_id` dials the phone of `agent` (an agent or a supervisor's phone)."""
    agent_id = agent.id
    pbx = config.pbx(pbx_id)
    if not agent.endpoint or not agent.pbx:
        raise NoRoute(f"agent {agent_id!r} has no phone (chat only)")
    if agent.pbx == pbx_id:
        if isinstance(pbx, FreeswitchPbx):
            domain = "" if pbx.domain == "$${domain}" else f"@{pbx.domain}"
            return f"user/{agent.endpoint}{domain}"
        return f"PJSIP/{agent.endpoint}"
    trunk = config.inter_pbx_trunk(pbx_id, agent.pbx)
    if trunk is None:
        raise NoRoute(
            f"agent {agent_id!r} has their phone on {agent.pbx}, and no inter_pbx trunk links "
            f"it to {pbx_id}"
        )
    if isinstance(pbx, FreeswitchPbx):
        return f"sofia/gateway/{trunk_name(trunk.id)}/{agent.endpoint}"
    return f"PJSIP/{agent.endpoint}@{trunk_name(trunk.id)}"


def dial_agent(
    config: AdminConfig, pbx_id: str, agent_id: str, endpoint: str = "", agent_pbx: str = ""
) -> str:
    """How `pbx_id` dials agent `agent_id` (`agent_dial_string`), for every agent the router
    knows: one managed through the admin API is not in the admin YAML, and is dialled from
    its phone as the router knows it (`endpoint` on PBX `agent_pbx`) by the same rules.
    Raises NoRoute when there is no way to reach the phone."""
    if agent_id not in {a.id for a in config.agents}:
        if not endpoint or not agent_pbx:
            raise NoRoute(f"agent {agent_id!r} has no phone (no endpoint/PBX in the router)")
        try:
            config.pbx(agent_pbx)
        except KeyError:
            raise NoRoute(f"agent {agent_id!r} is on PBX {agent_pbx!r}, unknown here") from None
        try:
            extra = Agent(id=agent_id, pbx=agent_pbx, endpoint=endpoint)
        except ValidationError as e:
            raise NoRoute(f"agent {agent_id!r}: endpoint {endpoint!r} is not dialable") from e
        config = AdminConfig.model_validate({**dict(config), "agents": (*config.agents, extra)})
    return agent_dial_string(config, pbx_id, agent_id)


def gateway_name(trunk: OutboundTrunk) -> str:
    """FreeSWITCH: the gateway a trunk dials through: an existing one, or the rendered
    implus-trunk-<id>."""
    return trunk.gateway or trunk_name(trunk.id)


def number_dial_string(
    config: AdminConfig, pbx_id: str, number: str, service: str | None = None
) -> str:
    """What `pbx_id` dials to call `number` (digits, optional +) out through the service's
    trunk: a consult or a blind transfer to a number. The number is checked here: it goes
    into a dial string as it is."""
    if not number or len(number) > 32 or not number.lstrip("+").isdigit():
        raise NoRoute(f"{number!r} is not a phone number (digits, optionally a leading +)")
    trunk = outbound_trunk(config, pbx_id, service)
    if isinstance(config.pbx(pbx_id), FreeswitchPbx):
        return f"sofia/gateway/{gateway_name(trunk)}/{trunk.dial_prefix}{number}"
    return f"PJSIP/{trunk.dial_prefix}{number}@{trunk_name(trunk.id)}"


def overflow_label(config: AdminConfig, entry_id: str) -> str:
    """What the entry point's overflow is, for transcripts (`voicemail`, `hangup`...)."""
    try:
        return config.entry_point(entry_id).overflow.type
    except KeyError:
        return "overflow"


def overflow_destination(config: AdminConfig, entry_id: str) -> Destination:
    """Where the bridge sends a caller of `entry_id` that the router overflows."""
    entry = config.entry_point(entry_id)
    return Destination(OVERFLOW_CONTEXT, entry.id)


def hold_destination(exten: str) -> Destination:
    """Asterisk: where a bridge Redirects a caller back on hold (a transfer, a ring that
    must stop, an answer for an offer that was no longer the agent's). `exten` is the
    number the caller dialled (IMPLUS_EXTEN: the entry's extension or what matched it)."""
    return Destination(ENTRY_CONTEXT, exten, HOLD_LABEL)


def connect_destination() -> Destination:
    """Asterisk: where a bridge Redirects a waiting caller to ring an agent (the caller's
    own Dial; see docs/call-flow.md)."""
    return Destination(CONNECT_CONTEXT, CONNECT_EXTEN)


def held_destination() -> Destination:
    """Asterisk: where the bridge Redirects a customer it puts on hold."""
    return Destination(HELD_CONTEXT, "s")


def agent_held_destination() -> Destination:
    """Asterisk: where the bridge Redirects the agent while the customer is on hold."""
    return Destination(AGENT_HELD_CONTEXT, "s")


def consult_destination() -> Destination:
    """Asterisk: where the bridge Redirects the agent to dial a consult target."""
    return Destination(CONSULT_CONTEXT, "s")


def spy_destination() -> Destination:
    """Asterisk: where a supervisor's answered phone goes to listen in."""
    return Destination(SPY_CONTEXT, "s")


def outbound_trunk(config: AdminConfig, pbx_id: str, service: str | None = None) -> OutboundTrunk:
    """The trunk an outbound call of `service` uses on `pbx_id`."""
    if service is not None:
        wanted = config.service(service).outbound_trunk
        if wanted is not None:
            trunk = config.trunk(wanted)
            if isinstance(trunk, OutboundTrunk) and trunk.pbx == pbx_id:
                return trunk
    default = config.default_trunk(pbx_id)
    if default is None:
        raise NoRoute(f"PBX {pbx_id!r} has no outbound trunk: add one under trunks:")
    return default


def outbound_destination(
    config: AdminConfig, pbx_id: str, service: str | None = None
) -> Destination:
    """Where an agent-first outbound call goes after the agent answers (IMPLUS_DIAL set)."""
    return Destination(OUTBOUND_CONTEXT, outbound_trunk(config, pbx_id, service).id)
