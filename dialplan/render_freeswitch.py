"""FreeSWITCH XML include files, built with ElementTree so escaping is by construction.

Files (paths relative to the FreeSWITCH conf folder, matching the stock layout):
- ``dialplan/implus.xml``: contexts implus-entry, implus-overflow, implus-outbound and
  implus-inter-pbx (stock freeswitch.xml includes ``dialplan/*.xml``);
- ``dialplan/<context>/00_implus.xml`` per inbound context: entry numbers -> implus-entry,
  and agent phones for calls from a linked PBX;
- ``directory/<directory>/implus_agents.xml``: the agents' directory users;
- ``sip_profiles/<profile>/implus_gateways.xml``: gateways of trunks.
The contract (variables, contexts, events) is docs/call-flow.md.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from admin_config import names, patterns
from admin_config.errors import BadSecret
from admin_config.model import (
    AdminConfig,
    Agent,
    EntryPoint,
    FreeswitchPbx,
    InterPbxTrunk,
)
from admin_config.secrets import Secrets
from admin_config.targets import (
    DEFAULT_TRUNK_EXTEN,
    ENTRY_CONTEXT,
    INTER_PBX_CONTEXT,
    OUTBOUND_CONTEXT,
    OVERFLOW_CONTEXT,
    gateway_name,
    trunk_name,
)
from dialplan import text
from dialplan.rendering import HEADER_TEXT, RenderedFile

DIALPLAN = "dialplan/implus.xml"
DEFAULT_MUSIC = "$${hold_music}"
#: What a number to dial must look like before it reaches `bridge` (no ',', '|', '{').
DIAL_REGEX = r"^\+?[0-9*#]+$"


def _inbound_path(ctx: str) -> str:
    return f"dialplan/{text.token(ctx, 'context')}/00_implus.xml"


def _directory_path(pbx: FreeswitchPbx) -> str:
    return f"directory/{text.token(pbx.directory, 'directory')}/implus_agents.xml"


def _gateways_path(pbx: FreeswitchPbx) -> str:
    return f"sip_profiles/{text.token(pbx.gateway_profile, 'profile')}/implus_gateways.xml"


def paths(pbx: FreeswitchPbx) -> list[str]:
    """The files `render` writes for `pbx`, relative to its configuration folder."""
    inbound = [_inbound_path(ctx) for ctx in pbx.inbound_contexts]
    return [DIALPLAN, *inbound, _directory_path(pbx), _gateways_path(pbx)]


def render(config: AdminConfig, pbx: FreeswitchPbx, secrets: Secrets) -> list[RenderedFile]:
    files = [RenderedFile(DIALPLAN, _document(config, _dialplan(config, pbx)), "xml")]
    for ctx in pbx.inbound_contexts:
        inbound = _document(config, _inbound(config, pbx, ctx))
        files.append(RenderedFile(_inbound_path(ctx), inbound, "xml"))
    users = _document(config, _users(config, pbx, secrets))
    files.append(RenderedFile(_directory_path(pbx), users, "xml", True))
    gateways = _document(config, _gateways(config, pbx, secrets))
    files.append(RenderedFile(_gateways_path(pbx), gateways, "gateways", True))
    from dialplan import render_webrtc_freeswitch  # browser VoIP: its own files (docs/voip.md)

    return files + render_webrtc_freeswitch.render(config, pbx, secrets)


def _document(config: AdminConfig, root: ET.Element) -> str:
    ET.indent(root, "  ")
    source = text.comment(config.source.name if config.source else "admin config")
    body = ET.tostring(root, encoding="unicode")
    return f"<!-- {HEADER_TEXT} (source: {source}) -->\n{body}\n"


def _comment(parent: ET.Element, what: str) -> None:
    parent.append(ET.Comment(f" {text.comment(what)} "))


def _sub(parent: ET.Element, tag: str, **attrs: str) -> ET.Element:
    return ET.SubElement(parent, tag, attrs)


def _action(parent: ET.Element, app: str, data: str | None = None, anti: bool = False) -> None:
    attrs = {"application": app}
    if data is not None:
        attrs["data"] = data
    _sub(parent, "anti-action" if anti else "action", **attrs)


def _extension(context: ET.Element, name: str, dest_regex: str) -> ET.Element:
    ext = _sub(context, "extension", name=text.token(name, "extension name"))
    return _sub(ext, "condition", field="destination_number", expression=dest_regex)


def _exact(value: str) -> str:
    return "^" + re.escape(value) + "$"


# --- dialplan/implus.xml ---------------------------------------------------------------


def _dialplan(config: AdminConfig, pbx: FreeswitchPbx) -> ET.Element:
    root = ET.Element("include")
    entries = list(config.entry_points_on(pbx.id))
    entry_ctx = _sub(root, "context", name=ENTRY_CONTEXT)
    for e in entries:
        _entry(config, entry_ctx, e)
    overflow_ctx = _sub(root, "context", name=OVERFLOW_CONTEXT)
    for e in entries:
        _overflow(config, pbx, overflow_ctx, e)
    outbound_ctx = _sub(root, "context", name=OUTBOUND_CONTEXT)
    _outbound(config, pbx, outbound_ctx)
    inter_ctx = _sub(root, "context", name=INTER_PBX_CONTEXT)
    for a in config.agents_on(pbx.id):
        endpoint = text.token(a.endpoint or "", "endpoint")
        _comment(inter_ctx, f"agent {a.id}")
        cond = _extension(inter_ctx, f"agent_{a.id}" if _safe(a.id) else "agent", _exact(endpoint))
        _action(cond, "bridge", f"user/{endpoint}@{pbx.domain}")
    return root


def _safe(value: str) -> bool:
    return re.match(r"^[A-Za-z0-9_.-]+$", value) is not None


def _entry(config: AdminConfig, ctx: ET.Element, e: EntryPoint) -> None:
    t = text.token
    entry = t(e.id, "entry id")
    music = e.music_class or DEFAULT_MUSIC
    _comment(ctx, f"entry point {e.id}: service {e.service}" + (f" - {e.label}" if e.label else ""))
    ext = _sub(ctx, "extension", name=entry)
    regex = patterns.to_regex(e.extension)
    _sub(ext, "condition", field="destination_number", expression=regex)
    # implus_user: kept when the admin's dialplan set it before the transfer, else the
    # caller number.
    keep = _sub(ext, "condition", field="${implus_user}", expression="^$", **{"break": "never"})
    _action(keep, "set", "implus_user=${caller_id_number}")
    main = _sub(ext, "condition", field="destination_number", expression=regex)
    _action(main, "set", f"implus_service={t(e.service, 'service')}")
    _action(main, "set", f"implus_entry={entry}")
    _action(main, "set", f"implus_language={t(e.language, 'language')}")
    _action(main, "set", f"default_language={t(e.language, 'language')}")
    _action(main, "set", f"implus_max_wait={e.max_wait}")
    _action(main, "set", f"implus_hold_music={t(music, 'hold music', names.FS_MUSIC)}")
    _action(main, "answer")
    recording = config.service(e.service).recording
    if recording is not None and recording.enabled and recording.announcement:
        # "This call may be recorded": before the call is parked and filed.
        _action(main, "playback", text.token(recording.announcement, "announcement"))
    # The safety net: if nobody takes the call, the caller overflows on their own. The
    # bridge cancels it (`sched_del <uuid>`) when it connects an agent.
    wait = e.max_wait + config.hold_margin
    _action(main, "sched_transfer", f"+{wait} {entry} XML {OVERFLOW_CONTEXT}")
    _action(main, "park")


def _overflow(config: AdminConfig, pbx: FreeswitchPbx, ctx: ET.Element, e: EntryPoint) -> None:
    t = text.token
    o = e.overflow
    entry = t(e.id, "entry id")
    _comment(ctx, f"overflow of {e.id}: {o.describe()}")
    cond = _extension(ctx, entry, _exact(entry))
    _action(cond, "sched_cancel")
    _action(cond, "set", "implus_overflowed=1")
    _action(
        cond,
        "event",
        "Event-Name=CUSTOM,Event-Subclass=implus::overflow,"
        f"Implus-Service={t(e.service, 'service')},Implus-Entry={entry},"
        f"Implus-Destination={o.type}",
    )
    if o.type == "voicemail":
        domain = t(o.context or pbx.domain, "voicemail domain", names.FS_DOMAIN)
        _action(cond, "voicemail", f"default {domain} {t(o.mailbox or '', 'mailbox')}")
    elif o.type == "extension":
        ctx_name = t(o.context or pbx.phone_context, "context")
        _action(cond, "transfer", f"{t(o.extension or '', 'extension')} XML {ctx_name}")
    elif o.type == "entry_point" and o.entry_point:
        target = config.entry_point(o.entry_point)
        number = t(target.extension, "extension")
        if target.pbx == pbx.id:
            _action(cond, "transfer", f"{number} XML {ENTRY_CONTEXT}")
        else:
            trunk = config.inter_pbx_trunk(pbx.id, target.pbx)
            assert trunk is not None  # validated: cross-PBX overflow needs a trunk
            _action(cond, "bridge", f"sofia/gateway/{trunk_name(trunk.id)}/{number}")
    _action(cond, "hangup", "NORMAL_CLEARING")


def _outbound(config: AdminConfig, pbx: FreeswitchPbx, ctx: ET.Element) -> None:
    t = text.token
    default = config.default_trunk(pbx.id)
    if default is not None:
        _comment(ctx, f"default trunk: {default.id}")
        cond = _extension(ctx, "default_trunk", _exact(DEFAULT_TRUNK_EXTEN))
        _action(cond, "transfer", f"{t(default.id, 'trunk id')} XML {OUTBOUND_CONTEXT}")
    for trunk in config.outbound_trunks_on(pbx.id):
        tid = t(trunk.id, "trunk id")
        _comment(ctx, f"outbound via trunk {trunk.id}")
        ext = _sub(ctx, "extension", name=tid)
        _sub(ext, "condition", field="destination_number", expression=_exact(tid))
        # The number may come from a customer ("call me"): only digits reach `bridge`.
        cond = _sub(ext, "condition", field="${implus_dial}", expression=DIAL_REGEX)
        _action(
            cond,
            "event",
            "Event-Name=CUSTOM,Event-Subclass=implus::outbound,"
            f"Implus-Trunk={tid},Implus-Dial=${{implus_dial}},Implus-Agent=${{implus_agent}}",
        )
        prefix = t(trunk.dial_prefix, "dial prefix") if trunk.dial_prefix else ""
        gateway = t(gateway_name(trunk), "gateway")
        _action(
            cond,
            "bridge",
            f"{{originate_timeout={trunk.ring_timeout}}}sofia/gateway/{gateway}/{prefix}${{implus_dial}}",
        )
        _action(cond, "hangup", "INVALID_NUMBER_FORMAT", anti=True)


# --- dialplan/<context>/00_implus.xml ----------------------------------------------------


def _inbound(config: AdminConfig, pbx: FreeswitchPbx, ctx: str) -> ET.Element:
    root = ET.Element("include")
    for e in config.entry_points_on(pbx.id):
        _comment(root, f"entry point {e.id} ({e.extension})")
        cond = _extension(root, f"implus_{e.id}", patterns.to_regex(e.extension))
        _action(cond, "transfer", f"${{destination_number}} XML {ENTRY_CONTEXT}")
    endpoints = [text.token(a.endpoint or "", "endpoint") for a in config.agents_on(pbx.id)]
    for link in config.inter_pbx_trunks_of(pbx.id):
        other = config.pbx(link.other(pbx.id))
        if not endpoints or not other.sip_host:
            continue
        _comment(root, f"agent phones rung from {other.id} over trunk {link.id}")
        ext = _sub(root, "extension", name=f"implus_{text.token(link.id, 'trunk id')}")
        _sub(ext, "condition", field="network_addr", expression=_exact(other.sip_host))
        alternatives = "|".join(re.escape(ep) for ep in endpoints)
        cond = _sub(ext, "condition", field="destination_number", expression=f"^({alternatives})$")
        _action(cond, "transfer", f"${{destination_number}} XML {INTER_PBX_CONTEXT}")
    return root


# --- directory users ---------------------------------------------------------------------


def _fs_secret(secrets: Secrets, name: str, purpose: str) -> str:
    value = secrets.get(name, purpose)
    # FreeSWITCH's pre-processor expands $${...} in the raw file before XML parsing, and
    # runs or drops any line holding its directive word (here: the password line).
    if "${" in value:
        raise BadSecret(f"{name} ({purpose}) contains '${{', which FreeSWITCH would expand")
    if text.has_directive(value):
        raise BadSecret(
            f"{name} ({purpose}) contains 'X-PRE-PROCESS', on which FreeSWITCH's "
            "pre-processor would act (it would drop the password line): change the secret"
        )
    return value


def _users(config: AdminConfig, pbx: FreeswitchPbx, secrets: Secrets) -> ET.Element:
    root = ET.Element("include")
    for a in config.phones_on(pbx.id):  # agents' and supervisors' phones
        if getattr(a, "phone", None) != "webrtc":  # softphones: directory/<dir>/implus_webrtc.xml
            _user(root, pbx, a, secrets)
    return root


def _user(root: ET.Element, pbx: FreeswitchPbx, a: Agent, secrets: Secrets) -> None:
    endpoint = text.token(a.endpoint or "", "endpoint")
    _comment(root, f"agent {a.id}" + (f" ({a.name})" if a.name else ""))
    user = _sub(root, "user", id=endpoint)
    params = _sub(user, "params")
    if a.password_env:
        password = _fs_secret(secrets, a.password_env, f"SIP password of agent {a.id}")
        _sub(params, "param", name="password", value=password)
    if a.contact:
        profile = text.token(pbx.agent_profile, "profile")
        contact = text.token(a.contact, "contact", names.SIP_URI)
        _sub(params, "param", name="dial-string", value=f"sofia/{profile}/{contact}")
    variables = _sub(user, "variables")
    for name, value in (
        ("user_context", text.token(pbx.phone_context, "context")),
        ("effective_caller_id_name", text.display_name(a.display_name) or endpoint),
        ("effective_caller_id_number", endpoint),
        ("implus_agent", text.token(a.id, "agent id")),
    ):
        _sub(variables, "variable", name=name, value=value)


# --- gateways ----------------------------------------------------------------------------


def _gateways(config: AdminConfig, pbx: FreeswitchPbx, secrets: Secrets) -> ET.Element:
    root = ET.Element("include")
    for trunk in config.outbound_trunks_on(pbx.id):
        if trunk.gateway or not trunk.host:
            continue
        _comment(root, f"outbound trunk {trunk.id}")
        gw = _sub(root, "gateway", name=trunk_name(text.token(trunk.id, "trunk id")))
        password = "unused"  # noqa: S105 - sofia requires one; unused without register
        if trunk.secret_env:
            password = _fs_secret(secrets, trunk.secret_env, f"SIP secret of trunk {trunk.id}")
        _params(
            gw,
            proxy=f"{text.token(trunk.host, 'host')}:{trunk.port}",
            register="true" if trunk.registration else "false",
            username=text.token(trunk.username or "implus", "username"),
            password=password,
            **{"register-transport": trunk.transport},
        )
        if trunk.qualify:
            # Without `ping` sofia keeps a register=false gateway up; with it, an
            # unanswered OPTIONS marks the gateway down and calls fail until one is answered.
            _params(gw, ping=str(trunk.qualify))
    for link in config.inter_pbx_trunks_of(pbx.id):
        _inter_pbx_gateway(config, pbx, root, link)
    return root


def _inter_pbx_gateway(
    config: AdminConfig, pbx: FreeswitchPbx, root: ET.Element, link: InterPbxTrunk
) -> None:
    other = config.pbx(link.other(pbx.id))
    port = other.sip_port or (5060 if other.kind == "asterisk" else 5080)
    _comment(root, f"inter-PBX trunk {link.id} to {other.id} ({other.kind})")
    gw = _sub(root, "gateway", name=trunk_name(text.token(link.id, "trunk id")))
    # The other PBX identifies us by address; username/password are required by sofia
    # but unused without registration.
    _params(
        gw,
        proxy=f"{text.token(other.sip_host or '', 'host')}:{port}",
        register="false",
        username="implus",
        password="unused",  # noqa: S106 - required by sofia, unused (no register)
        **{"caller-id-in-from": "true"},
    )


def _params(gw: ET.Element, **params: str) -> None:
    for name, value in params.items():
        _sub(gw, "param", name=name, value=value)
