"""Browser VoIP over HTTP: the customer's line and ticket, the agent's softphone, VoIP
callbacks that ring the customer's widget, and the SIP library served from node_modules.

- ``POST /widget/voip?service=X`` (customer token): the service's VoIP line and a
  one-time ticket for ``/ws/sip/customer``;
- ``GET /api/voip/softphone`` (agent): the agent's softphone line, or
  ``enabled: false`` and why;
- ``POST /api/sessions/<id>/voip-call`` (agent): ring the session's customer in their
  widget; ``online: false`` when no widget saw the ring within 2.5 s;
- ``POST /widget/voip/ring/<ring>?service=X`` (customer token): the widget saw /
  accepted / declined / missed the ring;
- ``GET /vendor/sip.js/<file>``: SIP.js (npm, pinned in package-lock.json) from
  node_modules.

Every refusal is a JSON error whose message the page shows as it is.
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify, request, send_from_directory
from itsdangerous import BadSignature, URLSafeTimedSerializer

from chat import signals
from chat.auth import customer_from_request, staff_from_request
from chat.context import ctx
from chat.errors import AuthError, BadInput, ConfigError, Forbidden, NotFoundError
from chat.safe_json import request_json
from chat.tokens import check_service
from chat.voip_directory import VoipDirectory

bp = Blueprint("voip", __name__)
EXTENSION = "implus_voip"
TICKET_TTL = 60
RING_TTL = 120
RING_WAIT_S = 2.5
RING_STATES = ("seen", "accepted", "declined", "missed")
RING_WORDS = {
    "ringing": "📞 Your agent is calling you here (VoIP)",
    "offline": "VoIP call: the customer's chat window is not open",
    "accepted": "📞 VoIP call accepted",
    "declined": "VoIP call declined",
    "missed": "VoIP call not answered",
}


def enabled() -> bool:
    """Whether this service has VoIP at all (``voip_config`` set): the widget loads its
    VoIP part only then, rather than asking /widget/voip for a 403 on every page."""
    return current_app.extensions.get(EXTENSION) is not None


def directory() -> VoipDirectory:
    """The VoIP lines of this service; Forbidden (shown as is) when VoIP is off."""
    found: VoipDirectory | None = current_app.extensions.get(EXTENSION)
    if found is None:
        raise Forbidden("VoIP calls are not enabled on this service (voip_config is not set)")
    return found


def setup(app: Flask) -> None:
    """Load the admin YAML named by ``voip_config`` (fails the start when it is bad)."""
    path = ctx(app).settings.voip_config
    if path is not None:
        app.extensions[EXTENSION] = VoipDirectory.load(path)


def _signer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(ctx().settings.secret, salt="implus.chat.voip-ticket")


def redeem_ticket(ticket: str) -> tuple[str, str]:
    """(user id, service) of a valid, unused ticket; AuthError otherwise."""
    c = ctx()
    try:
        data = _signer().loads(ticket, max_age=TICKET_TTL)
    except BadSignature as e:
        raise AuthError("the VoIP ticket is invalid or expired: press Call again") from e
    nonce = str(data.get("n", ""))
    if not c.redis.set(c.keys.prefix + f"voip-ticket:{nonce}", 1, nx=True, ex=TICKET_TTL * 2):
        raise AuthError("the VoIP ticket was used already: press Call again")
    return str(data["u"]), str(data["s"])


@bp.post("/widget/voip")
def customer_line() -> Any:
    who = customer_from_request()
    service = check_service(request.args.get("service"))
    if not who.may_use(service):
        raise Forbidden(f"this token is not valid for service {service!r}")
    line = directory().customer_line(service, who.user_id)
    ticket = _signer().dumps({"u": who.user_id, "s": service, "n": secrets.token_hex(12)})
    return jsonify(line.client_view() | {"ws": f"/ws/sip/customer?ticket={ticket}"})


@bp.get("/api/voip/softphone")
def softphone() -> Any:
    who = staff_from_request()
    if who is None:
        raise AuthError("log in first")
    try:
        line = directory().softphone(who.account_id)
    except (Forbidden, ConfigError) as e:
        return jsonify({"enabled": False, "reason": str(e)})
    if line is None:
        return jsonify({"enabled": False, "reason": "your phone is a SIP phone, not a softphone"})
    return jsonify(line.client_view() | {"enabled": True, "ws": "/ws/sip/agent"})


def _ring_key(ring: str) -> str:
    return ctx().keys.prefix + f"voip-ring:{ring}"


def _note(session_id: str, state: str, **extra: str) -> None:
    entry = {"type": "voip.ring", "state": state, "text": RING_WORDS[state], **extra}
    ctx().router.append(session_id, entry)


@bp.post("/api/sessions/<session_id>/voip-call")
def voip_call(session_id: str) -> Any:
    """Ring the customer's widget; the outcome also lands in the session's transcript."""
    c = ctx()
    who = staff_from_request()
    if who is None:
        raise AuthError("log in first")
    session = c.service.check_staff_access(who, session_id)
    directory().customer_line(session.service, session.user_id)  # has a VoIP line at all?
    ring = secrets.token_hex(12)
    key = _ring_key(ring)
    c.redis.hset(
        key,
        mapping={"session": session_id, "user": session.user_id, "service": session.service},
    )
    c.redis.expire(key, RING_TTL)
    account = c.accounts.get(who.role, who.account_id)
    name = account.name if account is not None else ""
    frame = {
        "type": "voip_ring",
        "session_id": session_id,
        "ring": ring,
        "state": "ringing",
        "name": name or "Your agent",
    }
    signals.publish(c.redis, c.keys, session_id, frame, kinds=("customer",))
    deadline = time.monotonic() + RING_WAIT_S
    while time.monotonic() < deadline:
        if c.redis.hget(key, "state"):
            _note(session_id, "ringing", agent=who.account_id)
            return jsonify({"online": True, "ring": ring})
        time.sleep(0.1)
    c.redis.delete(key)
    _note(session_id, "offline", agent=who.account_id)
    return jsonify(
        {
            "online": False,
            "message": "the customer's chat window is not open: call their phone instead",
        }
    )


@bp.post("/widget/voip/ring/<ring>")
def ring_state(ring: str) -> Any:
    """The widget reports what became of a ring (seen first, then the customer's answer)."""
    c = ctx()
    who = customer_from_request()
    service = check_service(request.args.get("service"))
    data = request_json()
    state = data.get("state") if isinstance(data, dict) else None
    if state not in RING_STATES:
        raise BadInput(f"state must be one of {', '.join(RING_STATES)}", "bad_state")
    key = _ring_key(ring if ring.isalnum() else "-")
    raw: dict[Any, Any] = c.redis.hgetall(key)
    found = {_text(k): _text(v) for k, v in raw.items()}
    if not found or found["user"] != who.user_id or found["service"] != service:
        raise NotFoundError("this call is over")
    c.redis.hset(key, "state", state)
    if state != "seen":
        c.redis.delete(key)
        _note(found["session"], state)
        agent_frame = {"type": "voip_ring", "session_id": found["session"], "state": state}
        signals.publish(c.redis, c.keys, found["session"], agent_frame, kinds=("agent",))
    return jsonify({"ok": True, "state": state})


@bp.get("/vendor/sip.js/<path:filename>")
def sip_js(filename: str) -> Any:
    """SIP.js's ES modules, straight from node_modules (installed by `make deps`)."""
    root = _vendor_root() / "sip.js"
    if not filename.startswith("lib/") or not filename.endswith(".js"):
        raise NotFoundError("only SIP.js's modules are served here")
    if not (root / "lib").is_dir():
        raise NotFoundError(
            "SIP.js is not installed: run `npm ci` in the implus checkout (`make deps` does)"
        )
    resp = send_from_directory(root, filename, max_age=3600)
    resp.headers["Access-Control-Allow-Origin"] = "*"  # module scripts on other sites
    return resp


def _vendor_root() -> Path:
    configured = ctx().settings.node_modules
    if configured is not None:
        return configured
    return Path(__file__).resolve().parents[1] / "node_modules"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
