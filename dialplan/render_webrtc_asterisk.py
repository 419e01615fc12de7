"""Asterisk include files for browser VoIP (docs/voip.md): only for a PBX with ``webrtc:``.

- ``http_implus.conf`` (from http.conf, in place of its ``[general]``): the HTTP server
  whose ``/ws`` the relay connects to - loopback by default, TLS when ``tls: true``;
- ``pjsip_webrtc_implus.conf`` (from pjsip.conf): the ``implus-ws`` transport, the
  customers' endpoint (digest auth with a secret only the relay knows, context
  ``implus-webrtc``, no transfers) and one endpoint per agent with ``phone: webrtc``
  (per-agent secret, one contact, removed when the relay's WebSocket closes);
- ``extensions_webrtc_implus.conf`` (from extensions.conf): context ``implus-webrtc``
  with one extension per VoIP entry point, nothing else - a browser cannot reach an
  agent, a trunk or any other extension. The user id comes from the relay's
  ``X-Implus-User`` header, filtered to the IMPLUS_USER characters.

Every value written is a validated id or a derived hex secret, each through
`dialplan.text.token` / `conf_value`, like the main renderer.
"""

from __future__ import annotations

from admin_config import webrtc as w
from admin_config.model import AdminConfig, Agent, AsteriskPbx
from admin_config.secrets import Secrets
from admin_config.targets import ENTRY_CONTEXT
from dialplan import text
from dialplan.rendering import HEADER_TEXT, RenderedFile

HTTP = "http_implus.conf"
PJSIP = "pjsip_webrtc_implus.conf"
EXTENSIONS = "extensions_webrtc_implus.conf"


def render(config: AdminConfig, pbx: AsteriskPbx, secrets: Secrets) -> list[RenderedFile]:
    """The three files, or none when the PBX has no ``webrtc:`` block."""
    if pbx.webrtc is None:
        return []
    return [
        RenderedFile(HTTP, http(config, pbx), "http"),
        RenderedFile(PJSIP, pjsip(config, pbx, secrets), "pjsip", secret=True),
        RenderedFile(EXTENSIONS, extensions(config, pbx), "dialplan"),
    ]


def _header(config: AdminConfig, pbx: AsteriskPbx, name: str, include_from: str) -> str:
    source = config.source.name if config.source else "admin config"
    return (
        f"; {HEADER_TEXT}\n"
        f"; source: {text.comment(source)}, PBX {pbx.id} (browser VoIP, docs/voip.md)\n"
        f"; include it once from {include_from}: #include {name}\n"
    )


def _lines(*pairs: tuple[str, str | int | None]) -> list[str]:
    return [f"{k}={v}" for k, v in pairs if v is not None and v != ""]


def http(config: AdminConfig, pbx: AsteriskPbx) -> str:
    """The HTTP server the relay's WebSocket reaches (``/ws``)."""
    rtc = pbx.webrtc
    assert rtc is not None
    host = text.token(rtc.ws_host, "host")
    port = rtc.port_for("asterisk")
    lines = [
        _header(config, pbx, HTTP, "http.conf (instead of its own [general] section)"),
        "[general]",
        "enabled=yes",
        "; only the chat service's relay connects here: keep it on an internal address",
    ]
    if rtc.tls:
        lines += _lines(
            ("bindaddr", "127.0.0.1"),
            ("bindport", 8088),
            ("tlsenable", "yes"),
            ("tlsbindaddr", f"{host}:{port}"),
            ("tlscertfile", text.token(rtc.cert_file or "", "certificate path")),
            ("tlsprivatekey", text.token(rtc.key_file or "", "key path")),
        )
    else:
        lines += _lines(("bindaddr", host), ("bindport", port))
    return "\n".join(lines) + "\n"


def _section(name: str, comment: str | None, *pairs: tuple[str, str | int | None]) -> str:
    head = [f"; {text.comment(comment)}"] if comment else []
    return "\n".join([*head, f"[{text.token(name, 'section name')}]", *_lines(*pairs)]) + "\n"


def _media(pbx: AsteriskPbx) -> list[tuple[str, str | int | None]]:
    rtc = pbx.webrtc
    assert rtc is not None
    address = text.token(rtc.media_address, "media address") if rtc.media_address else None
    return [
        ("transport", w.TRANSPORT),
        # webrtc=yes: ICE, AVPF, DTLS-SRTP (fingerprint verified), rtcp-mux, the received
        # transport for media; the certificate is generated at start.
        ("webrtc", "yes"),
        ("dtls_auto_generate_cert", "yes"),
        ("disallow", "all"),
        ("allow", ",".join(text.token(c, "codec") for c in rtc.codecs)),
        ("direct_media", "no"),
        ("media_address", address),
        ("bind_rtp_to_media_address", "yes" if address else None),
        ("allow_transfer", "no"),
        ("allow_subscribe", "no"),
    ]


def pjsip(config: AdminConfig, pbx: AsteriskPbx, secrets: Secrets) -> str:
    """Transport, the customers' endpoint and the WebRTC agents' endpoints."""
    rtc = pbx.webrtc
    assert rtc is not None
    root = secrets.get(rtc.relay_secret_env, f"WebRTC relay secret of PBX {pbx.id}")
    parts = [
        _header(config, pbx, PJSIP, "pjsip.conf"),
        _section(
            w.TRANSPORT,
            "SIP over WebSocket from the chat service's relay (the HTTP server's /ws)",
            ("type", "transport"),
            ("protocol", "wss" if rtc.tls else "ws"),
            # ignored for ws/wss: the HTTP server's address (http_implus.conf) counts
            ("bind", "0.0.0.0"),  # noqa: S104
        ),
    ]
    auth = f"{w.CUSTOMER_ENDPOINT}-auth"
    parts.append(
        _section(
            w.CUSTOMER_ENDPOINT,
            "customers' browsers (through the relay): only the VoIP entry points",
            ("type", "endpoint"),
            ("context", w.WEBRTC_CONTEXT),
            *_media(pbx),
            ("auth", auth),
            ("callerid", '"VoIP customer" <webrtc>'),
        )
    )
    parts.append(_auth(auth, w.CUSTOMER_ENDPOINT, w.customers_secret(root) if root else ""))
    for agent in config.agents_on(pbx.id):
        if agent.phone == "webrtc":
            parts.append(_agent(pbx, agent, root))
    return "\n".join(parts)


def _auth(name: str, username: str, password: str) -> str:
    return _section(
        name,
        None,
        ("type", "auth"),
        ("auth_type", "userpass"),
        ("username", text.token(username, "username")),
        ("password", text.conf_value(password)),
    )


def _agent(pbx: AsteriskPbx, a: Agent, root: str) -> str:
    endpoint = text.token(a.endpoint or "", "endpoint")
    auth = f"implus-auth-{endpoint}"
    name = text.display_name(a.display_name) or endpoint
    out = _section(
        endpoint,
        f"agent {a.id}: the desktop's softphone (WebRTC, registers through the relay)",
        ("type", "endpoint"),
        ("context", text.token(pbx.phone_context, "context")),
        *_media(pbx),
        ("auth", auth),
        ("aors", endpoint),
        ("callerid", f'"{name}" <{endpoint}>'),
        ("set_var", f"IMPLUS_AGENT={text.token(a.id, 'agent id')}"),
    )
    out += _section(
        endpoint,
        None,
        ("type", "aor"),
        ("max_contacts", 1),
        ("remove_existing", "yes"),
        ("remove_unavailable", "yes"),
    )
    return out + _auth(auth, endpoint, w.agent_secret(root, a.id) if root else "")


def extensions(config: AdminConfig, pbx: AsteriskPbx) -> str:
    """``[implus-webrtc]``: the VoIP entry points and nothing else."""
    lines = [
        _header(config, pbx, EXTENSIONS, "extensions.conf"),
        f"[{w.WEBRTC_CONTEXT}]",
        "; Calls from customers' browsers (the relay lets them dial only these numbers).",
        f"; The relay stamps {w.USER_HEADER}: the user id of the customer's signed token.",
    ]
    for e in config.entry_points_on(pbx.id):
        if e.media != "voip":
            continue
        exten = text.token(e.extension, "extension")
        lines += [
            f"; VoIP entry point {text.comment(e.id)}: service {text.comment(e.service)}",
            f"exten => {exten},1,NoOp(implus VoIP call to {text.token(e.id, 'entry id')})",
            f" same => n,Set(IMPLUS_USER=${{FILTER({w.USER_CHARS},"
            f"${{PJSIP_HEADER(read,{w.USER_HEADER})}})}})",
            " same => n,GotoIf($[${LEN(${IMPLUS_USER})} = 0]?refuse)",
            " same => n,Set(CALLERID(all)=${IMPLUS_USER} <${IMPLUS_USER}>)",
            f" same => n,Goto({ENTRY_CONTEXT},{exten},1)",
            " same => n(refuse),Hangup(21)",
        ]
    return "\n".join(lines) + "\n"
