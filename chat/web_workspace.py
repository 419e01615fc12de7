"""HTTP endpoints of the agent workspace: canned replies (admins manage them, agents read
them), transfer targets, the search across a customer's history, and the API reference
page. Documented in the OpenAPI spec (chat/openapi.py)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, render_template, request

from chat import api_models as m
from chat.accounts import Role
from chat.auth import require_staff, staff_from_request
from chat.context import ctx
from chat.errors import BadInput
from chat.tokens import check_user_id
from chat.web_api import body, out

bp = Blueprint("workspace", __name__, url_prefix="/api")
MAX_QUERY = 200


@bp.get("/canned-replies")
@require_staff()
def list_canned() -> Any:
    """Every canned reply (agents and admins)."""
    return jsonify([r.model_dump() for r in ctx().canned.list()])


@bp.put("/canned-replies/<reply_id>")
@require_staff(Role.ADMIN)
def put_canned(reply_id: str) -> Any:
    """Create (201) or replace (200) a canned reply."""
    reply, created = ctx().canned.put(reply_id, body(m.CannedReplyBody))
    return out(reply, 201 if created else 200)


@bp.delete("/canned-replies/<reply_id>")
@require_staff(Role.ADMIN)
def delete_canned(reply_id: str) -> Any:
    ctx().canned.remove(reply_id)
    return "", 204


@bp.get("/transfer-targets")
@require_staff()
def transfer_targets() -> Any:
    """Queues and the agents available for a chat now: what the transfer picker offers."""
    who = staff_from_request()
    assert who is not None
    return out(ctx().admin.transfer_targets(who.account_id))


@bp.get("/customers/<user_id>/history")
@require_staff()
def search_history(user_id: str) -> Any:
    """Entries of the customer's sessions containing ``q`` (agents: only customers they
    are serving now)."""
    who = staff_from_request()
    assert who is not None
    check_user_id(user_id)
    query = (request.args.get("q") or "").strip()
    if not 2 <= len(query) <= MAX_QUERY:
        raise BadInput(f"search for 2 to {MAX_QUERY} characters (?q=...)", code="bad_query")
    return jsonify(ctx().service.search_history(who, user_id, query))


@bp.get("/docs")
def docs() -> Any:
    """The admin API reference, rendered from the OpenAPI document."""
    from chat.openapi import spec

    return render_template("api_docs.html", spec=spec())
