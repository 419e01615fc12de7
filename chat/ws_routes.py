"""Websocket endpoints. The upgrade is refused (HTTP 403/401, no websocket) unless the
Origin is allowed AND the credentials are valid - checked before the handshake."""

from __future__ import annotations

from typing import Any

from flask import Flask, g, request
from flask_sock import Sock

from chat.accounts import Role
from chat.auth import origin_allowed, staff_from_request
from chat.connection import Connection
from chat.context import ctx
from chat.errors import AuthError, Forbidden
from chat.tokens import StaffPrincipal, check_service

WS_PATHS = ("/ws/customer", "/ws/agent", "/ws/supervisor")
SUBPROTOCOL_PREFIX = "token."
"""Browsers pass the customer token as a websocket subprotocol ``token.<token>`` (so it
never appears in a URL or a log); non-browser clients may use ``?token=`` instead."""


def _check_upgrade() -> None:
    if request.path not in WS_PATHS:
        return
    c = ctx()
    customer = request.path == "/ws/customer"
    extra = c.settings.allowed_origins if customer else ()
    if not origin_allowed(request, extra):
        raise Forbidden("websocket Origin not allowed: add it to allowed_origins")
    if customer:
        token = request.args.get("token") or _token_from_protocols()
        who = c.tokens.read_customer(token)
        service = check_service(request.args.get("service", ""))
        if not who.may_use(service):
            raise Forbidden(f"this token is not valid for service {service!r}")
        g.customer = who
        g.service = service
        return
    staff = staff_from_request()
    if staff is None:
        raise AuthError("log in first")
    if request.path == "/ws/agent" and staff.role is not Role.AGENT:
        raise Forbidden("the desktop websocket is for agents")
    if request.path == "/ws/supervisor" and not staff.is_admin:
        raise Forbidden("the supervisor websocket is for admins")


def _token_from_protocols() -> str | None:
    header = request.headers.get("Sec-WebSocket-Protocol", "")
    for proto in (p.strip() for p in header.split(",")):
        if proto.startswith(SUBPROTOCOL_PREFIX):
            return proto[len(SUBPROTOCOL_PREFIX) :]
    return None


def register(app: Flask, sock: Sock) -> None:
    app.before_request(_check_upgrade)
    # Echo the fixed subprotocol so browsers that sent ["implus", "token.<...>"] accept us.
    app.config["SOCK_SERVER_OPTIONS"]["subprotocols"] = ["implus"]

    @sock.route("/ws/customer")
    def customer_ws(ws: Any) -> None:
        from chat.ws_customer import CustomerLink

        c = ctx()
        conn = _connection(ws, "customer", g.customer.user_id, service=g.service)
        CustomerLink(c, conn, g.customer, g.service).run()

    @sock.route("/ws/agent")
    def agent_ws(ws: Any) -> None:
        from chat.ws_agent import AgentLink

        who = staff_from_request()
        assert who is not None
        AgentLink(ctx(), _connection(ws, "agent", who.account_id, principal=who), who).run()

    @sock.route("/ws/supervisor")
    def supervisor_ws(ws: Any) -> None:
        from chat.ws_supervisor import SupervisorLink

        who = staff_from_request()
        assert who is not None
        SupervisorLink(ctx(), _connection(ws, "supervisor", who.account_id, principal=who)).run()


def _connection(
    ws: Any, kind: str, identity: str, service: str = "", principal: StaffPrincipal | None = None
) -> Connection:
    s = ctx().settings
    return Connection(
        ws,
        kind,
        identity,
        s.outbox_limit,
        s.rate_per_second,
        s.rate_burst,
        service=service,
        principal=principal,
    )
