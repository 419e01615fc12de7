"""Browser VoIP (WebRTC) in the admin YAML: the PBX's `webrtc:` block, names, checks.

A PBX with a ``webrtc:`` block accepts SIP over WebSocket from the chat service's relay
(docs/voip.md): customers' "Call us" calls into entry points with ``media: voip``, and
agents whose ``phone: webrtc`` registers from the agent desktop's softphone. The browser
never talks SIP to the PBX directly and never holds a SIP credential: the relay answers
the PBX's digest challenges with secrets derived here from ``relay_secret_env``.

Names used on both PBXs (the renderers and the relay import them from here):
- the customers' endpoint / directory user ``implus-webrtc-customers``;
- the dialplan context ``implus-webrtc`` (only the VoIP entry points are reachable);
- the headers the relay stamps: ``X-Implus-User`` (the token's user id) and
  ``X-Implus-Service``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from admin_config import names
from admin_config.problems import Problem

CUSTOMER_ENDPOINT = "implus-webrtc-customers"
WEBRTC_CONTEXT = "implus-webrtc"
TRANSPORT = "implus-ws"
USER_HEADER = "X-Implus-User"
SERVICE_HEADER = "X-Implus-Service"
#: Characters a user id keeps on its way through the dialplan (same as IMPLUS_USER's).
USER_CHARS = "0-9A-Za-z+._@"
VOIP_USER = r"^[0-9A-Za-z+._@]{1,128}$"

Host = Annotated[str, StringConstraints(pattern=names.HOST)]
EnvName = Annotated[str, StringConstraints(pattern=names.ENV)]
Path_ = Annotated[str, StringConstraints(pattern=r"^/[A-Za-z0-9_./-]{1,250}$")]
IceUrl = Annotated[str, StringConstraints(pattern=r"^(stun|turns?):[A-Za-z0-9.:_?=-]{1,200}$")]


class WebrtcSettings(BaseModel):
    """The ``webrtc:`` block of a PBX: its WebSocket listener and what browsers need."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ws_host: Host = "127.0.0.1"
    """Address the PBX's SIP-over-WebSocket listener binds to; only the relay connects."""
    ws_port: Annotated[int, Field(ge=1, le=65535)] | None = None
    """Asterisk: http.conf port (default 8088, 8089 with TLS); FreeSWITCH: ws-binding
    port (default 5066, 7443 with TLS)."""
    tls: bool = False
    """wss between the relay and the PBX (needs cert_file/key_file)."""
    cert_file: Path_ | None = None
    key_file: Path_ | None = None
    relay_secret_env: EnvName
    """Variable holding the relay's secret: the customers' endpoint password, and the
    root of each WebRTC agent's own SIP password (derived, never shown to anyone)."""
    media_address: Host | None = None
    """Asterisk: the address RTP binds to and announces (ICE host candidate)."""
    codecs: tuple[Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{2,20}$")], ...] = (
        "opus",
        "ulaw",
    )
    ice_servers: tuple[IceUrl, ...] = ()
    """STUN/TURN URLs handed to browsers (e.g. turn:turn.example.com:3478)."""
    turn_username: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.@:-]{1,64}$")] | None = (
        None
    )
    turn_password_env: EnvName | None = None

    def port_for(self, kind: str) -> int:
        """The listener port, by PBX kind and TLS."""
        if self.ws_port:
            return self.ws_port
        if kind == "asterisk":
            return 8089 if self.tls else 8088
        return 7443 if self.tls else 5066

    def ws_url(self, kind: str) -> str:
        """Where the relay connects: ``ws://127.0.0.1:8088/ws`` and the like."""
        scheme = "wss" if self.tls else "ws"
        path = "/ws" if kind == "asterisk" else ""
        return f"{scheme}://{self.ws_host}:{self.port_for(kind)}{path}"


Phone = Literal["sip", "webrtc"]


def agent_secret(relay_secret: str, agent_id: str) -> str:
    """The SIP password of a WebRTC agent: HMAC of the relay secret and the agent id.

    Per agent (one leaked password opens one endpoint), rendered into the PBX config and
    computed by the relay when it answers the PBX's challenge; never sent to a browser.
    """
    mac = hmac.new(relay_secret.encode(), f"agent:{agent_id}".encode(), hashlib.sha256)
    return mac.hexdigest()[:40]


def customers_secret(relay_secret: str) -> str:
    """The customers' endpoint password (derived too, so the raw secret never lands in a file)."""
    mac = hmac.new(relay_secret.encode(), b"customers", hashlib.sha256)
    return mac.hexdigest()[:40]


def problems(
    pbxs: dict[str, object],
    entries: Iterable[tuple[int, object]],
    agents: Iterable[tuple[int, object]],
) -> list[Problem]:
    """VoIP entry points and WebRTC agents need a PBX with ``webrtc:``; VoIP extensions
    are literal (the relay lets a customer dial exactly them)."""
    out: list[Problem] = []
    for i, e in entries:
        if getattr(e, "media", "voice") != "voip":
            continue
        pbx = pbxs.get(getattr(e, "pbx", ""))
        if pbx is not None and getattr(pbx, "webrtc", None) is None:
            out.append(
                Problem(
                    ("entry_points", i, "media"),
                    f"a VoIP entry point needs PBX {getattr(pbx, 'id', '')!r} to have a "
                    "webrtc: block (its WebSocket listener and relay secret)",
                )
            )
        if names.is_pattern(getattr(e, "extension", "")):
            out.append(
                Problem(
                    ("entry_points", i, "extension"),
                    "a VoIP entry point needs a literal extension (customers' browsers "
                    "dial exactly it), not a pattern",
                )
            )
    for i, a in agents:
        if getattr(a, "phone", "sip") != "webrtc":
            continue
        pbx = pbxs.get(getattr(a, "pbx", None) or "")
        if pbx is not None and getattr(pbx, "webrtc", None) is None:
            out.append(
                Problem(
                    ("agents", i, "phone"),
                    f"a WebRTC softphone needs PBX {getattr(pbx, 'id', '')!r} to have a "
                    "webrtc: block",
                )
            )
        if getattr(a, "contact", None):
            out.append(
                Problem(
                    ("agents", i, "contact"),
                    "a WebRTC softphone registers from the browser: remove contact:",
                )
            )
    return out
