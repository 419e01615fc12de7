"""The admin JSON HTTP API under /api (documented at /api/openapi.json)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from pydantic import BaseModel, ValidationError

from chat import api_models as m
from chat.accounts import Role, check_account_id
from chat.auth import authenticate, new_token, require_staff, staff_from_request
from chat.context import ctx
from chat.errors import AuthError, BadInput, Forbidden, NotFoundError
from chat.safe_json import request_json

bp = Blueprint("api", __name__, url_prefix="/api")
MAX_STRATEGY_BYTES = 256 * 1024
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/plain")


def body(model: type[m.Body]) -> Any:
    """The JSON body validated as ``model``; BadInput names each wrong field."""
    data = request_json()
    if not isinstance(data, dict):
        raise BadInput("send a JSON object with Content-Type: application/json", code="not_json")
    try:
        return model.model_validate(data)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(x) for x in err['loc']) or 'body'}: {err['msg']}"
            for err in e.errors(include_url=False, include_input=False)
        )
        raise BadInput(problems, code="invalid_body") from None


def out(model: BaseModel, status: int = 200) -> Any:
    resp = jsonify(model.model_dump())
    resp.status_code = status
    return resp


@bp.post("/auth/token")
def issue_token() -> Any:
    """Exchange a user name and password for a bearer token."""
    b = body(m.LoginBody)
    c = ctx()
    account = authenticate(Role(b.role), b.username, b.password)
    if account is None:
        resp = jsonify({"error": "bad_credentials", "message": "wrong user name or password"})
        resp.status_code = 401
        return resp
    token = new_token(account)
    return out(m.TokenOut(token=token, expires_in=c.settings.staff_token_ttl, role=b.role))


@bp.post("/auth/revoke")
@require_staff()
def revoke() -> Any:
    """End login sessions server-side: the caller's own, one token's, or all of an
    account's. Agents may revoke only their own; admins anyone's."""
    b = body(m.RevokeBody)
    who = staff_from_request()
    assert who is not None
    c = ctx()
    if b.token and b.account:
        raise BadInput("send `token` or `account`, not both", code="invalid_body")
    if b.account:
        role = Role(b.role)
        if not who.is_admin and (b.account, role) != (who.account_id, who.role):
            raise Forbidden("only admins may revoke the sessions of another account")
        return out(m.RevokeOut(revoked=c.staff_sessions.revoke_all(role, b.account)))
    target = who
    if b.token:
        try:
            target = c.tokens.read_staff(b.token)
        except AuthError as e:
            raise BadInput(f"`token` is not a live staff token ({e})", code="bad_token") from e
        if not who.is_admin and (target.account_id, target.role) != (who.account_id, who.role):
            raise Forbidden("only admins may revoke the token of another account")
    return out(m.RevokeOut(revoked=c.staff_sessions.revoke(target)))


@bp.get("/me")
@require_staff()
def me() -> Any:
    who = staff_from_request()
    assert who is not None
    return out(m.Me(id=who.account_id, role=who.role.value))


@bp.post("/customer-tokens")
@require_staff(Role.ADMIN)
def customer_token() -> Any:
    """For the embedding site's backend: a token that lets its page chat as one user."""
    b = body(m.CustomerTokenBody)
    c = ctx()
    ttl = min(b.ttl or c.settings.customer_token_ttl, c.settings.customer_token_ttl)
    token = c.tokens.customer_token(b.user_id, tuple(b.services), ttl)
    if b.profile is not None:
        c.customers.save_profile(b.user_id, b.profile.model_dump())
    return out(m.TokenOut(token=token, expires_in=ttl, role="customer"), 201)


@bp.get("/agents")
@require_staff(Role.ADMIN)
def list_agents() -> Any:
    return jsonify([a.model_dump() for a in ctx().admin.list_agents()])


@bp.get("/agents/<agent_id>")
@require_staff(Role.ADMIN)
def get_agent(agent_id: str) -> Any:
    agent = ctx().admin.get_agent(agent_id)
    if agent is None:
        raise NotFoundError(f"no agent {agent_id!r}")
    return out(agent)


@bp.put("/agents/<agent_id>")
@require_staff(Role.ADMIN)
def put_agent(agent_id: str) -> Any:
    """Create or update an agent (router profile) and optionally set its password."""
    check_account_id(agent_id)
    agent, created = ctx().admin.upsert_agent(agent_id, body(m.AgentBody))
    return out(agent, 201 if created else 200)


@bp.delete("/agents/<agent_id>")
@require_staff(Role.ADMIN)
def delete_agent(agent_id: str) -> Any:
    ctx().admin.remove_agent(agent_id)
    return "", 204


@bp.put("/strategy")
@require_staff(Role.ADMIN)
def put_strategy() -> Any:
    """Load a routing strategy (YAML body); it applies to requests already waiting."""
    if request.mimetype not in YAML_TYPES:
        raise BadInput(
            "send the strategy YAML with Content-Type: application/yaml", code="not_yaml"
        )
    raw = request.get_data(cache=False)
    if len(raw) > MAX_STRATEGY_BYTES:
        raise BadInput(f"strategy is larger than {MAX_STRATEGY_BYTES} bytes", code="too_large")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BadInput("strategy must be UTF-8 text", code="not_utf8") from e
    version = ctx().admin.load_strategy(text)
    return out(m.StrategyOut(version=version))


@bp.get("/queues")
@require_staff(Role.ADMIN)
def queues() -> Any:
    return jsonify([q.model_dump() for q in ctx().admin.queue_stats()])


@bp.get("/openapi.json")
def openapi() -> Any:
    from chat.openapi import spec

    return jsonify(spec())


@bp.get("/sessions/<session_id>")
@require_staff()
def get_session(session_id: str) -> Any:
    """A session's whole timeline and the customer's earlier sessions (staff who may see it)."""
    who = staff_from_request()
    assert who is not None
    svc = ctx().service
    svc.check_staff_access(who, session_id)
    return jsonify(svc.session_view(session_id))
