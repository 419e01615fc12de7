"""HTTP for call control: the desktop's call buttons and transfer picker, the supervisor's
listen / whisper / barge and live calls, recordings (with range requests) for staff."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from flask import Blueprint, jsonify, send_file

from chat import api_models as m
from chat.accounts import Role
from chat.auth import require_staff, staff_from_request
from chat.context import ctx
from chat.errors import BadInput
from chat.tokens import StaffPrincipal
from chat.web_api import body

bp = Blueprint("calls", __name__, url_prefix="/api")
ENTRY_ID = r"^[0-9]{1,20}-[0-9]{1,20}$"


def _who() -> StaffPrincipal:
    who = staff_from_request()
    assert who is not None  # require_staff
    return who


@bp.post("/sessions/<session_id>/call")
@require_staff()
def call_control(session_id: str) -> Any:
    """Hold, resume, mute, unmute, transfer, consult, complete, cancel or hang up the
    session's live call (the agent on it, or a supervisor). 202: the PBX was asked; the
    outcome comes as `call.control` entries of the session."""
    b = body(m.CallControlBody)
    done = ctx().calls.control(_who(), session_id, b.action, b.target_kind or "", b.target or "")
    resp = jsonify(
        {"request_id": done.request_id, "command_id": done.command_id, "action": b.action}
    )
    resp.status_code = 202
    return resp


@bp.post("/sessions/<session_id>/supervise")
@require_staff(Role.ADMIN)
def supervise(session_id: str) -> Any:
    """Listen to, whisper to the agent of, barge in on, or leave the session's live call:
    the PBX rings the supervisor's phone."""
    b = body(m.SuperviseBody)
    done = ctx().calls.supervise(_who(), session_id, b.mode)
    resp = jsonify({"request_id": done.request_id, "command_id": done.command_id, "mode": b.mode})
    resp.status_code = 202
    return resp


@bp.get("/sessions/<session_id>/recordings/<entry_id>")
@require_staff()
def recording(session_id: str, entry_id: str) -> Any:
    """A call recording (audio/wav), for supervisors and the agents who handled the call;
    range requests are answered 206 (players seek)."""
    import re

    if not re.match(ENTRY_ID, entry_id):
        raise BadInput("the recording is named by its transcript entry id", code="bad_entry_id")
    path = ctx().calls.recording(_who(), session_id, entry_id)
    resp = send_file(path, mimetype="audio/wav", conditional=True, etag=True, max_age=0)
    resp.headers["Content-Disposition"] = f"inline; filename*=UTF-8''{quote(path.name)}"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    resp.headers["Cache-Control"] = "private, no-store"
    return resp


@bp.get("/live-calls")
@require_staff(Role.ADMIN)
def live_calls() -> Any:
    """Calls connected to an agent now (the supervisor page)."""
    return jsonify(ctx().calls.live_calls())


@bp.get("/call-transfer-targets")
@require_staff()
def transfer_targets() -> Any:
    """Queues and other agents, for the desktop's transfer picker."""
    return jsonify(ctx().calls.transfer_targets(_who()))
