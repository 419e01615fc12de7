"""FreeSWITCH include files for browser VoIP (docs/voip.md): only for a PBX with ``webrtc:``.

- ``sip_profiles/implus_webrtc.xml`` (stock ``sip_profiles/*.xml``): a sofia profile
  ``implus_webrtc`` with a ws (or wss) binding for the chat service's relay, calls and
  registrations authenticated against the directory, context ``implus-webrtc``;
- ``directory/<directory>/implus_webrtc.xml`` (0600): the customers' user
  ``implus-webrtc-customers`` and one user per agent with ``phone: webrtc``, passwords
  derived from the relay secret (admin_config.webrtc);
- ``dialplan/implus_webrtc.xml``: context ``implus-webrtc`` - the VoIP entry numbers and
  nothing else. The user id comes from the relay's ``X-Implus-User`` header
  (``${sip_h_X-Implus-User}``) only when it matches the IMPLUS_USER characters in full,
  captured by the condition's regex (never pasted raw); else the call is refused.

Built with ElementTree (escaping by construction); every value is a validated id, a
derived hex secret or a fixed string, and none may carry ``${``, ``$${`` or
``<X-PRE-PROCESS`` (checked again on the finished text).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from admin_config import webrtc as w
from admin_config.model import AdminConfig, Agent, FreeswitchPbx
from admin_config.secrets import Secrets
from admin_config.targets import ENTRY_CONTEXT
from dialplan import text
from dialplan.errors import RenderError
from dialplan.rendering import HEADER_TEXT, RenderedFile

PROFILE = "implus_webrtc"
PROFILE_FILE = "sip_profiles/implus_webrtc.xml"
DIALPLAN_FILE = "dialplan/implus_webrtc.xml"
USER_REGEX = r"^([0-9A-Za-z+._@]{1,128})$"


def render(config: AdminConfig, pbx: FreeswitchPbx, secrets: Secrets) -> list[RenderedFile]:
    """The three files, or none when the PBX has no ``webrtc:`` block."""
    if pbx.webrtc is None:
        return []
    directory = f"directory/{text.token(pbx.directory, 'directory')}/implus_webrtc.xml"
    return [
        RenderedFile(PROFILE_FILE, _document(config, profile(pbx)), "xml"),
        RenderedFile(directory, _document(config, users(config, pbx, secrets)), "xml", True),
        RenderedFile(DIALPLAN_FILE, _document(config, dialplan(config, pbx)), "xml"),
    ]


def _document(config: AdminConfig, root: ET.Element) -> str:
    ET.indent(root, "  ")
    source = text.comment(config.source.name if config.source else "admin config")
    body = ET.tostring(root, encoding="unicode")
    out = f"<!-- {HEADER_TEXT} (source: {source}; browser VoIP) -->\n{body}\n"
    variable = re.search(r"\$\{(?!sip_h_X-Implus-User\})", out)
    if "$${" in out or "<X-PRE-PROCESS" in out.upper() or variable:
        raise RenderError("refusing to write a FreeSWITCH variable or pre-processor line")
    return out


def _sub(parent: ET.Element, tag: str, **attrs: str) -> ET.Element:
    return ET.SubElement(parent, tag, attrs)


def _param(parent: ET.Element, name: str, value: str) -> None:
    _sub(parent, "param", name=name, value=value)


def profile(pbx: FreeswitchPbx) -> ET.Element:
    """The sofia profile the relay connects to (SIP over WebSocket; DTLS-SRTP media)."""
    rtc = pbx.webrtc
    assert rtc is not None
    host = text.token(rtc.ws_host, "host")
    media = text.token(rtc.media_address or rtc.ws_host, "media address")
    port = rtc.port_for("freeswitch")
    codecs = ",".join("PCMU" if c == "ulaw" else "PCMA" if c == "alaw" else c for c in rtc.codecs)
    root = ET.Element("include")
    prof = _sub(root, "profile", name=PROFILE)
    _sub(prof, "domains").append(ET.Element("domain", name="all", alias="false", parse="false"))
    settings = _sub(prof, "settings")
    for name, value in (
        ("context", w.WEBRTC_CONTEXT),
        ("dialplan", "XML"),
        ("sip-ip", host),
        ("rtp-ip", media),
        ("ext-sip-ip", host),
        ("ext-rtp-ip", media),
        ("sip-port", str(port + 1)),
        ("wss-binding" if rtc.tls else "ws-binding", f"{host}:{port}"),
        ("auth-calls", "true"),
        ("auth-all-packets", "false"),
        ("accept-blind-reg", "false"),
        ("accept-blind-auth", "false"),
        ("inbound-codec-prefs", codecs),
        ("outbound-codec-prefs", codecs),
        ("apply-candidate-acl", "localnet.auto"),
        ("rtcp-mux", "true"),
        ("disable-transfer", "true"),
        ("manage-presence", "false"),
    ):
        _param(settings, name, text.token(value, name, r"^[A-Za-z0-9_.,:@-]{1,200}$"))
    if rtc.tls and rtc.cert_file:
        _param(settings, "tls-cert-dir", text.token(rtc.cert_file.rsplit("/", 1)[0], "cert dir"))
    return root


def users(config: AdminConfig, pbx: FreeswitchPbx, secrets: Secrets) -> ET.Element:
    rtc = pbx.webrtc
    assert rtc is not None
    root_secret = secrets.get(rtc.relay_secret_env, f"WebRTC relay secret of PBX {pbx.id}")
    root = ET.Element("include")
    root.append(ET.Comment(" customers' browsers through the relay: only implus-webrtc "))
    _user(
        root,
        w.CUSTOMER_ENDPOINT,
        w.customers_secret(root_secret) if root_secret else "",
        w.WEBRTC_CONTEXT,
        (("implus_media", "voip"),),
    )
    for a in config.agents_on(pbx.id):
        if a.phone == "webrtc":
            _agent(root, pbx, a, root_secret)
    return root


def _user(
    root: ET.Element, uid: str, password: str, context: str, variables: tuple[tuple[str, str], ...]
) -> None:
    user = _sub(root, "user", id=text.token(uid, "user id"))
    params = _sub(user, "params")
    hexed = text.token(password or "unset", "password", r"^[0-9a-f]{1,64}$|^unset$")
    _param(params, "password", hexed)
    vars_el = _sub(user, "variables")
    for name, value in (("user_context", context), *variables):
        _sub(vars_el, "variable", name=name, value=value)


def _agent(root: ET.Element, pbx: FreeswitchPbx, a: Agent, root_secret: str) -> None:
    endpoint = text.token(a.endpoint or "", "endpoint")
    root.append(ET.Comment(f" agent {text.comment(a.id)}: the desktop's softphone "))
    _user(
        root,
        endpoint,
        w.agent_secret(root_secret, a.id) if root_secret else "",
        text.token(pbx.phone_context, "context"),
        (
            ("effective_caller_id_name", text.display_name(a.display_name) or endpoint),
            ("effective_caller_id_number", endpoint),
            ("implus_agent", text.token(a.id, "agent id")),
        ),
    )


def dialplan(config: AdminConfig, pbx: FreeswitchPbx) -> ET.Element:
    """Context implus-webrtc: the VoIP entry numbers, each checking the relay's user id."""
    root = ET.Element("include")
    ctx = _sub(root, "context", name=w.WEBRTC_CONTEXT)
    for e in config.entry_points_on(pbx.id):
        if e.media != "voip":
            continue
        exten = text.token(e.extension, "extension")
        ctx.append(ET.Comment(f" VoIP entry point {text.comment(e.id)} "))
        ext = _sub(ctx, "extension", name=f"voip_{text.token(e.id, 'entry id')}")
        _sub(ext, "condition", field="destination_number", expression="^" + re.escape(exten) + "$")
        cond = _sub(ext, "condition", field="${sip_h_X-Implus-User}", expression=USER_REGEX)
        _sub(cond, "action", application="set", data="implus_user=$1")
        _sub(cond, "action", application="set", data="implus_media=voip")
        _sub(cond, "action", application="transfer", data=f"{exten} XML {ENTRY_CONTEXT}")
        _sub(cond, "anti-action", application="hangup", data="CALL_REJECTED")
    return root
