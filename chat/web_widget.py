"""HTTP endpoints the customer widget calls from any allowed site, plus file serving.

The widget authenticates with its customer token (``Authorization: Bearer``), so these
endpoints allow cross-origin calls from the configured origins (CORS, no cookies).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from flask import Blueprint, jsonify, request, send_file

from chat import web_voip
from chat.auth import bearer, customer_from_request, origin_allowed, staff_from_request
from chat.context import ctx
from chat.errors import AuthError, BadInput, Forbidden, Unavailable
from chat.safe_json import request_json
from chat.tokens import check_service, check_user_id
from chat.uploads import human_size, too_large

log = logging.getLogger(__name__)
bp = Blueprint("widget", __name__)
CORS_PREFIXES = ("/widget/", "/files/")
EXPIRED_LINK = "This chat link has expired or is not valid: reload the page to start again."


@bp.after_app_request
def _cors(resp: Any) -> Any:
    if request.path.startswith(CORS_PREFIXES) and origin_allowed(
        request, ctx().settings.allowed_origins
    ):
        resp.headers["Access-Control-Allow-Origin"] = request.headers["Origin"]
        resp.headers["Vary"] = "Origin"
        resp.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
        resp.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        resp.headers["Access-Control-Max-Age"] = "600"
    return resp


@bp.post("/widget/demo-token")
def demo_token() -> Any:
    """Demo mode only: a customer token for whatever user id was typed into the demo page."""
    c = ctx()
    if not c.settings.demo_mode:
        raise Forbidden(
            "demo mode is off: tokens come from your site's backend via POST /api/customer-tokens"
        )
    data = request_json()
    user_id = check_user_id(data.get("user_id") if isinstance(data, dict) else None)
    name = data.get("name") if isinstance(data, dict) else None
    if isinstance(name, str) and name.strip():
        c.customers.save_profile(user_id, {"name": name.strip()[:200]})
    return jsonify(
        {"token": c.tokens.customer_token(user_id), "expires_in": c.settings.customer_token_ttl}
    )


@bp.get("/widget/config")
def widget_config() -> Any:
    """What the widget needs before connecting, readable from any site (nothing private):
    whether this site may embed the chat (and if not, why), the greeting, whether "Call
    me" can work, whether VoIP is on, the upload limit."""
    c = ctx()
    origin = request.headers.get("Origin")
    allowed = origin is None or origin_allowed(request, c.settings.allowed_origins)
    body: dict[str, Any] = {"origin_allowed": allowed}
    if not allowed:
        body["message"] = (
            f"This site ({origin}) is not allowed to use this chat: the chat service's "
            "administrator must add it to allowed_origins."
        )
    else:
        if bearer(request) is not None:  # the widget asks why its websocket keeps failing
            try:
                c.tokens.read_customer(bearer(request))
                body["token_ok"] = True
            except AuthError:
                body["token_ok"] = False
                body["token_message"] = EXPIRED_LINK
        body |= {
            "greeting": c.settings.widget_greeting,
            "call_me": _call_me(),
            "voip": web_voip.enabled(),
            "upload_max_bytes": c.settings.upload_max_bytes,
            "upload_limit": human_size(c.settings.upload_max_bytes),
        }
    resp = jsonify(body)
    resp.headers["Access-Control-Allow-Origin"] = "*"
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _call_me() -> bool:
    """Whether "Call me" can work. No while Redis cannot say: the widget needs its config
    to start at all, and its websocket retries until Redis is back (a 503 here left the
    widget "unavailable" for good)."""
    try:
        return ctx().admin.phone_channel()
    except Unavailable as e:
        log.warning("widget config without Call me: %s", e)
        return False


@bp.post("/widget/files")
def upload() -> Any:
    """Share a file in the customer's session for ``?service=`` (opens it if needed)."""
    c = ctx()
    who = customer_from_request()
    service = check_service(request.args.get("service"))
    if not who.may_use(service):
        raise Forbidden(f"this token is not valid for service {service!r}")
    stored = c.files.store(_upload_stream(), _upload_name())
    session_id = c.service.ensure_session(who.user_id, service)
    c.files.register(session_id, stored, by="customer")
    return jsonify(stored.to_dict() | {"session_id": session_id}), 201


@bp.post("/api/sessions/<session_id>/files")
def staff_upload(session_id: str) -> Any:
    """An agent shares a file in a session it handles."""
    c = ctx()
    who = staff_from_request()
    if who is None:
        raise AuthError("log in first")
    c.service.check_staff_access(who, session_id)
    stored = c.files.store(_upload_stream(), _upload_name())
    c.files.register(session_id, stored, by=f"agent:{who.account_id}")
    return jsonify(stored.to_dict() | {"session_id": session_id}), 201


@bp.get("/files/<session_id>/<sha256>")
def download(session_id: str, sha256: str) -> Any:
    """A shared file, only for the session's customer, its agents and admins."""
    c = ctx()
    if bearer(request) is not None and not _is_staff_token():
        who = customer_from_request()
        c.service.check_customer_access(who.user_id, session_id)
    else:
        staff = staff_from_request()
        if staff is None:
            raise AuthError("log in or send the customer token")
        c.service.check_staff_access(staff, session_id)
    f = c.files.lookup(session_id, sha256)
    resp = send_file(
        c.files.path(sha256),
        mimetype=f.mime if f.inline else "application/octet-stream",
        conditional=True,
        etag=sha256,
        max_age=3600,
    )
    disposition = "inline" if f.inline else "attachment"
    resp.headers["Content-Disposition"] = f"{disposition}; filename*=UTF-8''{quote(f.name)}"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    resp.headers["Cache-Control"] = "private, max-age=3600"
    return resp


def _is_staff_token() -> bool:
    try:
        ctx().tokens.read_staff(bearer(request))
    except AuthError:
        return False
    return True


def _upload_stream() -> Any:
    f = request.files.get("file")
    if f is None:
        if request.content_length and request.content_length > ctx().settings.upload_max_bytes:
            raise too_large(ctx().settings.upload_max_bytes)
        raise BadInput("send the file as multipart/form-data field `file`", code="no_file")
    return f.stream


def _upload_name() -> str:
    f = request.files.get("file")
    return (f.filename or "") if f is not None else ""
