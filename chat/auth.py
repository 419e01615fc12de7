"""Who is asking: staff from a session cookie or bearer token, customers from their token.

Cookie-authenticated requests that change state must carry the CSRF token (double
submit: ``X-CSRF-Token`` header or ``csrf_token`` form field equal to the one in the
signed session cookie). Bearer-authenticated requests carry no ambient credentials and
need none. Websocket upgrades are checked here too: token (or cookie) AND Origin.
"""

from __future__ import annotations

import contextlib
import functools
import hmac
import secrets
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Request, current_app, g, request, session

from chat.accounts import ACCOUNT_ID, Account, Role
from chat.context import ctx
from chat.errors import AuthError, Forbidden
from chat.login_guard import client_address
from chat.tokens import CustomerPrincipal, StaffPrincipal

F = TypeVar("F", bound=Callable[..., Any])
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def csrf_token() -> str:
    """The CSRF token of this browser session (created on first use)."""
    token = session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return str(token)


def bearer(req: Request) -> str | None:
    header = req.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    return None


def check_csrf() -> None:
    """before_request: refuse an unsafe cookie-authenticated request without the token."""
    if request.method not in UNSAFE_METHODS or bearer(request) is not None:
        return
    if request.path.startswith("/widget/"):
        return  # token-authenticated widget calls from other sites; no ambient credentials
    has_cookie = current_app.config["SESSION_COOKIE_NAME"] in request.cookies
    if not has_cookie and request.path != "/login":
        return  # nothing ambient to abuse (the login form itself is still protected)
    sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token", "")
    expected = session.get("csrf", "")
    if not expected or not hmac.compare_digest(str(sent), str(expected)):
        raise Forbidden("missing or wrong CSRF token: reload the page and try again")


def staff_from_request() -> StaffPrincipal | None:
    """The logged-in agent/admin of this request, or None. Checks the token's login session
    is still live (logout and revocation end it) and the account still exists with the
    token's generation (password change or removal revokes)."""
    if "staff" in g:
        return g.staff
    c = ctx()
    token = bearer(request)
    from_cookie = token is None
    if from_cookie:
        token = session.get("staff")
    principal: StaffPrincipal | None = None
    if token:
        try:
            candidate = c.tokens.read_staff(token)
        except AuthError:
            if not from_cookie:
                raise
            session.pop("staff", None)
            candidate = None
        if candidate is not None:
            if c.staff_sessions.live([candidate])[0]:
                principal = candidate
            elif not from_cookie:
                raise AuthError(
                    "token was revoked (logout, revocation, password change or account "
                    "removal): log in again"
                )
            else:
                session.pop("staff", None)
    g.staff = principal
    return principal


def require_staff(role: Role | None = None) -> Callable[[F], F]:
    """Decorator: an authenticated agent or admin (admins may do what agents may)."""

    def wrap(view: F) -> F:
        @functools.wraps(view)
        def inner(*args: Any, **kwargs: Any) -> Any:
            who = staff_from_request()
            if who is None:
                raise AuthError("log in first (session cookie or Authorization: Bearer)")
            if role is Role.ADMIN and not who.is_admin:
                raise Forbidden("admins only")
            return view(*args, **kwargs)

        return inner  # type: ignore[return-value]

    return wrap


def customer_from_request() -> CustomerPrincipal:
    """The customer behind ``Authorization: Bearer <customer token>``."""
    token = bearer(request)
    if token is None:
        raise AuthError("send the customer token as Authorization: Bearer <token>")
    g.customer = ctx().tokens.read_customer(token)
    return g.customer


def own_origin(req: Request) -> str:
    return f"{req.scheme}://{req.host}"


def origin_allowed(req: Request, extra: tuple[str, ...]) -> bool:
    """True when the request's Origin is this service or one of ``extra``."""
    origin = req.headers.get("Origin")
    if not origin:
        return False
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False
    normalized = f"{parts.scheme}://{parts.netloc}".lower()
    allowed = {own_origin(req).lower(), *(o.lower() for o in extra)}
    return normalized in allowed


def authenticate(role: Role, username: str, password: str) -> Account | None:
    """The account when the password is right, None when it is wrong; Throttled (429)
    when this address or account has spent its budget of failed logins."""
    c = ctx()
    address = client_address(request.remote_addr)
    account_key = username if isinstance(username, str) and ACCOUNT_ID.match(username) else "-"
    c.login_guard.attempt(role.value, account_key, address)
    account = c.accounts.verify(role, username, password)
    if account is not None:
        c.login_guard.succeeded(role.value, account_key, address)
    return account


def new_token(account: Account) -> str:
    """Start a login session of the account; returns its signed bearer token."""
    c = ctx()
    session_id = c.staff_sessions.start(account.role, account.id)
    return c.tokens.staff_token(account.id, account.role, account.generation, session_id)


def login(account: Account) -> str:
    """Start a cookie session for the account; returns its token as well."""
    token = new_token(account)
    session.clear()
    session["staff"] = token
    session.permanent = True
    csrf_token()
    return token


def logout() -> None:
    """End the cookie's login session server-side, then forget the cookie."""
    token = session.get("staff")
    if token:
        # a malformed or expired token has no session to end
        with contextlib.suppress(AuthError):
            ctx().staff_sessions.revoke(ctx().tokens.read_staff(token))
    session.clear()


__all__ = [
    "CustomerPrincipal",
    "StaffPrincipal",
    "authenticate",
    "check_csrf",
    "csrf_token",
    "customer_from_request",
    "login",
    "logout",
    "new_token",
    "origin_allowed",
    "require_staff",
    "staff_from_request",
]
