"""Server-rendered pages: login, agent desktop, supervisor, customer chat page, demo."""

from __future__ import annotations

import logging
from typing import Any

import redis
from flask import (
    Blueprint,
    current_app,
    redirect,
    render_template,
    request,
    send_from_directory,
    url_for,
)

from chat.accounts import ACCOUNT_ID, Role
from chat.auth import authenticate, csrf_token, login, logout, staff_from_request
from chat.context import ctx
from chat.errors import AuthError, Forbidden, Throttled, Unavailable

bp = Blueprint("pages", __name__)
log = logging.getLogger(__name__)


@bp.app_context_processor
def _template_globals() -> dict[str, Any]:
    return {"csrf_token": csrf_token}


@bp.get("/")
def index() -> Any:
    return render_template("index.html", demo=ctx().settings.demo_mode)


@bp.get("/login")
def login_form() -> Any:
    return render_template("login.html", error=None, next=_safe_next(request.args.get("next")))


@bp.post("/login")
def login_submit() -> Any:
    username = request.form.get("username", "")
    password = request.form.get("password", "")
    role_name = request.form.get("role", "agent")
    role = _login_role(Role.ADMIN if role_name == "admin" else Role.AGENT, username)
    try:
        account = authenticate(role, username, password)
    except Throttled as e:
        page = render_template(
            "login.html",
            error=f"Too many failed logins. Try again in {-(-e.retry_after // 60)} min.",
            next=_safe_next(request.form.get("next")),
        )
        return page, 429, {"Retry-After": str(e.retry_after)}
    if account is None:
        return (
            render_template(
                "login.html",
                error="Wrong user name or password.",
                next=_safe_next(request.form.get("next")),
            ),
            401,
        )
    login(account)
    default = url_for("pages.supervisor") if role is Role.ADMIN else url_for("pages.agent_desktop")
    return redirect(_safe_next(request.form.get("next")) or default)


@bp.post("/logout")
def logout_submit() -> Any:
    """End the session server-side: a copy of the cookie is worthless from now on, and
    open websockets of the session are closed (code 4401) within a few seconds."""
    logout()
    return redirect(url_for("pages.login_form"))


@bp.get("/agent")
def agent_desktop() -> Any:
    who = staff_from_request()
    if who is None:
        raise AuthError("log in first")
    if who.role is not Role.AGENT:
        raise Forbidden("the desktop is for agents: log in with an agent account")
    return render_template("agent.html", agent_id=who.account_id)


@bp.get("/supervisor")
def supervisor() -> Any:
    who = staff_from_request()
    if who is None:
        raise AuthError("log in first")
    if not who.is_admin:
        raise Forbidden("the supervisor page is for admins")
    return render_template("supervisor.html", admin_id=who.account_id)


@bp.get("/chat")
def customer_page() -> Any:
    """A full-page chat; the token comes in the URL fragment (never sent to servers)."""
    return render_template(
        "customer.html",
        service=request.args.get("service", "general"),
        demo=ctx().settings.demo_mode,
    )


@bp.get("/demo")
def demo_page() -> Any:
    """A stand-in for a customer's website embedding the widget with one script tag."""
    return render_template(
        "demo.html", service=request.args.get("service", "booking"), demo=ctx().settings.demo_mode
    )


@bp.get("/favicon.ico")
def favicon() -> Any:
    """Browsers ask for /favicon.ico on every page; the icon is an SVG."""
    return send_from_directory(
        current_app.static_folder or "static", "favicon.svg", mimetype="image/svg+xml",
        max_age=86400,
    )  # fmt: skip


@bp.get("/healthz")
def healthz() -> Any:
    try:
        ctx().redis.ping()
    except redis.RedisError as e:
        # a public page: the address and the error go to the log, not to the caller
        log.warning("healthz: Redis does not answer: %s", e)
        raise Unavailable("Redis does not answer (details in the server log)") from e
    return {"ok": True}


def _login_role(chosen: Role, username: str) -> Role:
    """The role to check the password against: the one chosen, unless only the other role
    has an account of that name (an admin who left "Agent" ticked logs in as admin).
    Checking one role only keeps one password check and one throttle count per try."""
    if not ACCOUNT_ID.match(username) or ctx().accounts.get(chosen, username) is not None:
        return chosen
    other = Role.AGENT if chosen is Role.ADMIN else Role.ADMIN
    return other if ctx().accounts.get(other, username) is not None else chosen


def _safe_next(target: str | None) -> str | None:
    # Only local paths: an open redirect would let a phishing link bounce through us.
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return None
