"""Asterisk include files: extensions_implus.conf, pjsip_implus.conf, manager_implus.conf.

The contexts and variables are the contract in docs/call-flow.md. Only validated ids go
into dialplan code (each through `text.token`); free text only into comments and
caller-id names, neutralised by `text.comment` / `text.display_name`. Values that come
from a caller (caller number) or from the bridge (number to dial) are passed through
`FILTER()` inside the dialplan before they reach a `UserEvent` or a `Dial`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from admin_config import names, targets
from admin_config.model import (
    AdminConfig,
    Agent,
    AsteriskPbx,
    EntryPoint,
    InterPbxTrunk,
    OutboundTrunk,
    Pbx,
)
from admin_config.secrets import Secrets
from admin_config.targets import (
    CONNECT_CONTEXT,
    ENTRY_CONTEXT,
    HOLD_LABEL,
    INTER_PBX_CONTEXT,
    OUTBOUND_CONTEXT,
    OVERFLOW_CONTEXT,
    trunk_name,
)
from dialplan import render_asterisk_control, text
from dialplan.rendering import HEADER_TEXT, RenderedFile

EXTENSIONS = "extensions_implus.conf"
PJSIP = "pjsip_implus.conf"
MANAGER = "manager_implus.conf"

#: AMI classes of the bridge's user (../shared/PROTOCOLS.md).
AMI_READ = "system,call,agent,user,dialplan"
AMI_WRITE = "system,call,agent,user,originate,reporting"

#: Characters a caller number keeps before it reaches IMPLUS_USER / the UserEvent.
USER_CHARS = "0-9A-Za-z+._@"
#: Characters a number to dial keeps before it reaches Dial() (no '&', ',', '/').
DIAL_CHARS = "0-9*#+"


def render(config: AdminConfig, pbx: AsteriskPbx, secrets: Secrets) -> list[RenderedFile]:
    from dialplan import render_webrtc_asterisk  # browser VoIP: its own files (docs/voip.md)

    return [
        RenderedFile(EXTENSIONS, extensions(config, pbx), "dialplan"),
        RenderedFile(PJSIP, pjsip(config, pbx, secrets), "pjsip", secret=True),
        RenderedFile(MANAGER, manager(config, pbx, secrets), "manager", secret=True),
        *render_webrtc_asterisk.render(config, pbx, secrets),
    ]


def _header(config: AdminConfig, pbx: Pbx, name: str, include_from: str) -> str:
    source = config.source.name if config.source else "admin config"
    return (
        f"; {HEADER_TEXT}\n"
        f"; source: {text.comment(source)}, PBX {pbx.id}\n"
        f"; include it once from {include_from}: #include {name}\n"
    )


class _Extension:
    """Lines of one extension: ``exten => X,1,App()`` then ``same => n(label),App()``."""

    def __init__(self, exten: str, comment: str | None = None) -> None:
        self.exten = text.token(exten, "extension")
        self.lines: list[str] = [f"; {text.comment(comment)}"] if comment else []

    def step(self, app: str, label: str | None = None) -> _Extension:
        prio = "1" if not any(line.startswith("exten") for line in self.lines) else "n"
        if label:
            prio += f"({label})"
        if prio.startswith("1"):
            self.lines.append(f"exten => {self.exten},{prio},{app}")
        else:
            self.lines.append(f" same => {prio},{app}")
        return self


def _context(name: str, comment: str, exts: Iterable[_Extension], extra: Iterable[str] = ()) -> str:
    lines = [f"[{name}]", *(f"; {c}" for c in comment.splitlines()), *extra]
    for ext in exts:
        lines += ext.lines
    return "\n".join(lines) + "\n"


# --- extensions_implus.conf ---------------------------------------------------------------


def extensions(config: AdminConfig, pbx: AsteriskPbx) -> str:
    entries = list(config.entry_points_on(pbx.id))
    parts = [
        _header(config, pbx, EXTENSIONS, "extensions.conf"),
        _context(
            ENTRY_CONTEXT,
            "Entry points. Send callers here from your inbound context:\n"
            "  include => implus-entry   or   Goto(implus-entry,<number>,1)",
            (_entry(config, e) for e in entries),
        ),
        _context(
            OVERFLOW_CONTEXT,
            "Overflow per entry point (extension = entry point id). The bridge Redirects here.",
            (_overflow(config, pbx, e) for e in entries),
        ),
        _context(
            CONNECT_CONTEXT,
            "Ringing an agent: the bridge sets IMPLUS_AGENT_DIAL and IMPLUS_RING on a\n"
            "waiting caller and Redirects it to s,1; the caller's own Dial rings the\n"
            "agent. No answer: back to the entry's hold step.",
            [_connect()],
        ),
        _context(
            OUTBOUND_CONTEXT,
            "Agent-first outbound calls: the bridge Originates the agent's phone into\n"
            "<trunk id>,1 (or s,1 = default trunk) with IMPLUS_DIAL = number to call.",
            _outbound(config, pbx),
        ),
        _context(
            INTER_PBX_CONTEXT,
            "Calls from another PBX over an inter-PBX trunk: entry points and agent phones.",
            (_inter_pbx_agent(a) for a in config.agents_on(pbx.id)),
            extra=[f"include => {ENTRY_CONTEXT}"],
        ),
        render_asterisk_control.contexts(),
    ]
    return "\n".join(parts)


def _entry(config: AdminConfig, e: EntryPoint) -> _Extension:
    t = text.token
    service, entry, lang = t(e.service, "service"), t(e.id, "entry id"), t(e.language, "language")
    wait = t(e.max_wait, "max wait")
    music = t(e.music_class or "default", "music class")
    label = f" - {e.label}" if e.label else ""
    ext = _Extension(e.extension, f"entry point {e.id}: service {e.service}{label}")
    # One priority sets every constant (each priority run costs Asterisk a channel
    # snapshot and a Newexten event per call). MSet splits its argument at ',' and strips
    # quotes: only tokens go in (`text.token` refuses ',', '"', '\\', '$'), never a value
    # from a caller.
    values = [
        f"IMPLUS_SERVICE={service}",
        f"IMPLUS_ENTRY={entry}",
        f"IMPLUS_LANGUAGE={lang}",
        f"CHANNEL(language)={lang}",
        f"IMPLUS_MAXWAIT={wait}",
        # Dial(...,m) in implus-connect plays this class while an agent's phone rings.
        f"CHANNEL(musicclass)={music}",
    ]
    if e.media == "voip":  # a browser call (docs/voip.md): the router gets a `voip` request
        values.append("IMPLUS_MEDIA=voip")
    # What the caller dialled: the way back to this hold step. For a plain number that is
    # the number (what ${EXTEN} gives); a pattern's match (or a number Asterisk rewrites,
    # e.g. drops its '-') comes from ${EXTEN} in a Set of its own: MSet would split it.
    literal = re.fullmatch(r"[0-9*#+]+", e.extension) is not None
    if literal:
        values.append(f"IMPLUS_EXTEN={e.extension}")
    ext.step(f"MSet({','.join(values)})")
    if not literal:
        ext.step("Set(IMPLUS_EXTEN=${EXTEN})")
    # IMPLUS_USER may be set by the admin's dialplan before the Goto (e.g. an account
    # number from an IVR); otherwise it is the caller number. Either way it is filtered:
    # it goes into a UserEvent, where a ',' would forge a header. The IF picks the NAME
    # of the variable to read (`${${name}}`), so the caller's text is never parsed by IF.
    ext.step(
        f"Set(IMPLUS_USER=${{FILTER({USER_CHARS},${{${{IF($[${{LEN(${{IMPLUS_USER}})}} > 0]"
        "?IMPLUS_USER:CALLERID(num))}})})"
    )
    ext.step("Answer()")
    recording = config.service(e.service).recording
    if recording is not None and recording.enabled and recording.announcement:
        # "This call may be recorded": before the call is filed, so no ring interrupts it.
        ext.step(f"Playback({text.token(recording.announcement, 'announcement')})")
    ext.step(
        f"UserEvent(ImplusEntry,Service: {service},Entry: {entry},"
        f"User: ${{IMPLUS_USER}},Language: {lang},MaxWait: {wait}"
        + (",Media: voip)" if e.media == "voip" else ")")
    )
    # `hold` is where a bridge Redirects a caller back to (transfer, failed connect).
    ext.step(f"MusicOnHold({music},{e.max_wait + config.hold_margin})", label=HOLD_LABEL)
    # After an agent was connected (the bridge sets IMPLUS_CONNECTED), never overflow.
    ext.step("GotoIf($[${LEN(${IMPLUS_CONNECTED})} > 0]?done)")
    ext.step(f"Goto({OVERFLOW_CONTEXT},{entry},1)")
    ext.step("Hangup()", label="done")
    return ext


def _overflow(config: AdminConfig, pbx: AsteriskPbx, e: EntryPoint) -> _Extension:
    t = text.token
    o = e.overflow
    entry = t(e.id, "entry id")
    ext = _Extension(e.id, f"overflow of {e.id}: {o.describe()}")
    ext.step("Set(IMPLUS_OVERFLOWED=1)")
    ext.step(
        f"UserEvent(ImplusOverflow,Service: {t(e.service, 'service')},Entry: {entry},"
        f"Destination: {o.type})"
    )
    if o.type == "voicemail":
        box = t(o.mailbox or "", "mailbox") + (f"@{t(o.context, 'context')}" if o.context else "")
        ext.step(f"VoiceMail({box},u)")
    elif o.type == "extension":
        ctx = t(o.context or pbx.phone_context, "context")
        ext.step(f"Goto({ctx},{t(o.extension or '', 'extension')},1)")
    elif o.type == "entry_point" and o.entry_point:
        target = config.entry_point(o.entry_point)
        number = t(target.extension, "extension")
        if target.pbx == pbx.id:
            ext.step(f"Goto({ENTRY_CONTEXT},{number},1)")
        else:
            trunk = config.inter_pbx_trunk(pbx.id, target.pbx)
            assert trunk is not None  # validated: cross-PBX overflow needs a trunk
            ext.step(f"Dial(PJSIP/{number}@{trunk_name(trunk.id)})")
    ext.step("Hangup()")
    return ext


def _connect() -> _Extension:
    dial, ring = targets.AGENT_DIAL_VAR, targets.RING_VAR
    ext = _Extension(targets.CONNECT_EXTEN)
    ext.step(f"GotoIf($[${{LEN(${{{dial}}})}} = 0]?back)")
    # The caller dials (no Originate, no channel yanked into a bridge): `m` keeps its hold
    # music while the phone rings; without `g` the caller is hung up with the agent.
    ext.step(f"Dial(${{{dial}}},${{{ring}}},m)")
    # Not answered (busy, no answer, unreachable - even when no agent channel was made):
    # the bridge learns it here, then the caller goes back on hold.
    ext.step("UserEvent(ImplusRingEnded,Status: ${DIALSTATUS})")
    ext.step(f"Set({dial}=)", label="back")
    ext.step(f"Goto({ENTRY_CONTEXT},${{IMPLUS_EXTEN}},{HOLD_LABEL})")
    return ext


def _outbound(config: AdminConfig, pbx: AsteriskPbx) -> list[_Extension]:
    trunks = list(config.outbound_trunks_on(pbx.id))
    exts = []
    default = config.default_trunk(pbx.id)
    if default is not None:
        ext = _Extension(targets.DEFAULT_TRUNK_EXTEN, f"default trunk: {default.id}")
        ext.step(f"Goto({OUTBOUND_CONTEXT},{text.token(default.id, 'trunk id')},1)")
        exts.append(ext)
    for trunk in trunks:
        exts.append(_outbound_trunk(trunk))
    return exts


def _outbound_trunk(trunk: OutboundTrunk) -> _Extension:
    t = text.token
    tid = t(trunk.id, "trunk id")
    prefix = t(trunk.dial_prefix, "dial prefix") if trunk.dial_prefix else ""
    ext = _Extension(trunk.id, f"outbound via trunk {trunk.id} ({trunk.host})")
    ext.step(f"NoOp(implus outbound call via {tid})")
    # The number may come from a customer ("call me"): only digits, '*', '#', '+' reach
    # Dial(), so it cannot add a second channel ('&') or options (',').
    ext.step(f"Set(IMPLUS_DIAL=${{FILTER({DIAL_CHARS},${{IMPLUS_DIAL}})}})")
    ext.step("GotoIf($[${LEN(${IMPLUS_DIAL})} = 0]?invalid)")
    ext.step(
        f"UserEvent(ImplusOutbound,Trunk: {tid},Dial: ${{IMPLUS_DIAL}},Agent: ${{IMPLUS_AGENT}})"
    )
    timeout = t(trunk.ring_timeout, "timeout")
    ext.step(f"Dial(PJSIP/{prefix}${{IMPLUS_DIAL}}@{trunk_name(tid)},{timeout})")
    ext.step("Hangup()")
    ext.step("Hangup(28)", label="invalid")
    return ext


def _inter_pbx_agent(a: Agent) -> _Extension:
    endpoint = text.token(a.endpoint or "", "endpoint")
    ext = _Extension(endpoint, f"agent {a.id}")
    ext.step(f"Dial(PJSIP/{endpoint})")
    ext.step("Hangup()")
    return ext


# --- pjsip_implus.conf ----------------------------------------------------------------------


def _section(name: str, comment: str | None, **values: str | int | None) -> str:
    lines = [f"; {text.comment(comment)}"] if comment else []
    lines.append(f"[{text.token(name, 'section name')}]")
    for key, value in values.items():
        if value is None or value == "":
            continue
        # `;` starts a comment even inside a value (a contact's `;transport=tcp`).
        lines.append(f"{key}={text.conf_value(str(value))}")
    return "\n".join(lines) + "\n"


def pjsip(config: AdminConfig, pbx: AsteriskPbx, secrets: Secrets) -> str:
    parts = [_header(config, pbx, PJSIP, "pjsip.conf")]
    for agent in config.phones_on(pbx.id):  # agents' and supervisors' phones
        if getattr(agent, "phone", None) != "webrtc":  # softphones: pjsip_webrtc_implus.conf
            parts.append(_agent_sections(pbx, agent, secrets))
    for trunk in config.outbound_trunks_on(pbx.id):
        parts.append(_trunk_sections(pbx, trunk, secrets))
    for link in config.inter_pbx_trunks_of(pbx.id):
        parts.append(_inter_pbx_sections(config, pbx, link))
    return "\n".join(parts)


def _common_media(pbx: AsteriskPbx) -> dict[str, str | None]:
    return {
        "transport": text.token(pbx.transport, "transport") if pbx.transport else None,
        "disallow": "all",
        "allow": ",".join(text.token(c, "codec") for c in pbx.codecs),
        "direct_media": "no",
        "rtp_symmetric": "yes",
        "force_rport": "yes",
        "rewrite_contact": "yes",
    }


def _agent_sections(pbx: AsteriskPbx, a: Agent, secrets: Secrets) -> str:
    endpoint = text.token(a.endpoint or "", "endpoint")
    auth = f"implus-auth-{endpoint}" if a.password_env else None
    name = text.display_name(a.display_name) or endpoint
    out = _section(
        endpoint,
        f"agent {a.id}" + (f" ({a.name})" if a.name else ""),
        type="endpoint",
        context=text.token(pbx.phone_context, "context"),
        **_common_media(pbx),
        auth=auth,
        aors=endpoint,
        callerid=f'"{name}" <{endpoint}>',
        set_var=f"IMPLUS_AGENT={text.token(a.id, 'agent id')}",
    )
    out += _section(
        endpoint,
        None,
        type="aor",
        max_contacts=1,
        remove_existing="yes",
        qualify_frequency=pbx.qualify_seconds,
        contact=text.token(a.contact, "contact", names.SIP_URI) if a.contact else None,
    )
    if auth and a.password_env:
        password = secrets.get(a.password_env, f"SIP password of agent {a.id}")
        out += _auth_section(auth, endpoint, password)
    return out


def _auth_section(name: str, username: str, password: str) -> str:
    return _section(
        name,
        None,
        type="auth",
        auth_type="userpass",
        username=username,
        password=password,
    )


def _trunk_sections(pbx: AsteriskPbx, trunk: OutboundTrunk, secrets: Secrets) -> str:
    name = trunk_name(text.token(trunk.id, "trunk id"))
    host = text.token(trunk.host or "", "host")
    uri = f"sip:{host}:{trunk.port}"
    if trunk.transport != "udp":
        uri += f";transport={trunk.transport}"
    auth = f"{name}-auth" if trunk.username and trunk.secret_env else None
    username = text.token(trunk.username, "username") if trunk.username else None
    out = _section(
        name,
        f"outbound trunk {trunk.id}",
        type="endpoint",
        context=text.token(pbx.phone_context, "context"),
        **_common_media(pbx),
        aors=name,
        outbound_auth=auth,
        from_user=username,
    )
    # qualify_frequency before contact: Asterisk gives a `contact=` the qualify_frequency
    # set above it (verified: written after it, the contact is never qualified).
    out += _section(name, None, type="aor", qualify_frequency=trunk.qualify, contact=uri)
    out += _section(f"{name}-identify", None, type="identify", endpoint=name, match=host)
    if auth and username and trunk.secret_env:
        secret = secrets.get(trunk.secret_env, f"SIP secret of trunk {trunk.id}")
        out += _auth_section(auth, username, secret)
    if trunk.registration:
        out += _section(
            f"{name}-reg",
            None,
            type="registration",
            transport=text.token(pbx.transport, "transport") if pbx.transport else None,
            outbound_auth=auth,
            server_uri=uri,
            client_uri=f"sip:{username}@{host}:{trunk.port}",
            retry_interval=60,
        )
    return out


def _inter_pbx_sections(config: AdminConfig, pbx: AsteriskPbx, link: InterPbxTrunk) -> str:
    other = config.pbx(link.other(pbx.id))
    name = trunk_name(text.token(link.id, "trunk id"))
    host = text.token(other.sip_host or "", "host")
    port = other.sip_port or (5060 if other.kind == "asterisk" else 5080)
    out = _section(
        name,
        f"inter-PBX trunk {link.id} to {other.id} ({other.kind})",
        type="endpoint",
        context=INTER_PBX_CONTEXT,
        **_common_media(pbx),
        aors=name,
    )
    # Not qualified: written after `contact=` as it used to be, qualify_frequency=30 never
    # took effect (verified), and a ping the other PBX leaves unanswered would make
    # Asterisk refuse every call over the trunk until the next one is answered.
    out += _section(name, None, type="aor", qualify_frequency=0, contact=f"sip:{host}:{port}")
    # Match the source port too: on one host (a lab, the tests) the address alone would
    # also match the phones, which then could not register.
    out += _section(
        f"{name}-identify", None, type="identify", endpoint=name, match=f"{host}:{port}"
    )
    return out


# --- manager_implus.conf --------------------------------------------------------------------


def manager(config: AdminConfig, pbx: AsteriskPbx, secrets: Secrets) -> str:
    secret = secrets.get(pbx.secret_env, f"AMI secret of PBX {pbx.id}")
    lines = [
        _header(config, pbx, MANAGER, "the end of manager.conf"),
        f"; the AMI user of the implus bridge for PBX {pbx.id}",
        f"[{text.token(pbx.username, 'AMI username')}]",
        f"secret={text.conf_value(secret)}",
        "deny=0.0.0.0/0.0.0.0",
        *(f"permit={text.token(net, 'network')}" for net in pbx.ami_permit),
        f"read={AMI_READ}",
        f"write={AMI_WRITE}",
        # A slow reader is dropped after writetimeout ms (default 100): raise it.
        f"writetimeout={pbx.ami_writetimeout}",
        "",
    ]
    return "\n".join(lines)
