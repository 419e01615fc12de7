"""Signed, expiring tokens (itsdangerous): customer tokens and staff bearer tokens.

A customer token is scoped to ONE user id (and optionally some services): it is what the
embedding site's backend hands to its page, and all the widget can do with it is act as
that user. A staff token names an agent or admin account, its generation (changing the password
or removing the account revokes it) and its login session (see chat.staff_sessions:
logout and the revoke API end the session server-side).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer

from chat.accounts import Role
from chat.errors import AuthError, BadInput

USER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@:+-]{0,127}$")
SERVICE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class CustomerPrincipal:
    """A customer acting as ``user_id``; ``services`` empty means any service."""

    user_id: str
    services: tuple[str, ...] = ()

    def may_use(self, service: str) -> bool:
        return not self.services or service in self.services


@dataclass(frozen=True)
class StaffPrincipal:
    """A logged-in agent or admin: one login session (``session_id``) of one account."""

    account_id: str
    role: Role
    generation: int
    session_id: str
    expires: float
    """Unix time the token stops being valid."""

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


def check_user_id(user_id: object) -> str:
    if not isinstance(user_id, str) or not USER_ID.match(user_id):
        raise BadInput(
            "a user id is 1-128 letters, digits or . _ @ : + - starting with a letter or digit",
            code="bad_user_id",
        )
    return user_id


def check_service(service: object) -> str:
    if not isinstance(service, str) or not SERVICE.match(service):
        raise BadInput("a service is 1-64 letters, digits, '.', '_' or '-'", code="bad_service")
    return service


class TokenSigner:
    """Issues and checks both kinds of token with the service's secret key."""

    def __init__(self, secret: bytes, customer_ttl: int, staff_ttl: int) -> None:
        self._customer = URLSafeTimedSerializer(secret, salt="implus.chat.customer")
        self._staff = URLSafeTimedSerializer(secret, salt="implus.chat.staff")
        self.customer_ttl = customer_ttl
        self.staff_ttl = staff_ttl

    def customer_token(
        self, user_id: str, services: tuple[str, ...] = (), ttl: int | None = None
    ) -> str:
        check_user_id(user_id)
        for s in services:
            check_service(s)
        ttl = min(ttl or self.customer_ttl, self.customer_ttl)
        return self._customer.dumps(
            {"u": user_id, "s": list(services), "exp": int(time.time()) + ttl}
        )

    def read_customer(self, token: object) -> CustomerPrincipal:
        data = _load(self._customer, token, self.customer_ttl, "customer")
        try:
            return CustomerPrincipal(check_user_id(data["u"]), tuple(data.get("s") or ()))
        except (KeyError, TypeError, BadInput) as e:
            raise AuthError("customer token has no valid user id: ask for a new one") from e

    def staff_token(self, account_id: str, role: Role, generation: int, session_id: str) -> str:
        return self._staff.dumps(
            {
                "sub": account_id,
                "role": role.value,
                "gen": generation,
                "sid": session_id,
                "exp": int(time.time()) + self.staff_ttl,
            }
        )

    def read_staff(self, token: object) -> StaffPrincipal:
        """The principal of a well-signed, unexpired token (whether its session is still
        live is for :class:`chat.staff_sessions.StaffSessions` to say)."""
        data = _load(self._staff, token, self.staff_ttl, "staff")
        try:
            return StaffPrincipal(
                str(data["sub"]),
                Role(data["role"]),
                int(data["gen"]),
                str(data["sid"]),
                float(data["exp"]),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise AuthError("token is malformed or from an older version: log in again") from e


def _load(s: URLSafeTimedSerializer, token: object, ttl: int, kind: str) -> dict:
    if not isinstance(token, str) or not token or len(token) > 4096:
        raise AuthError(f"a {kind} token is required")
    try:
        data = s.loads(token, max_age=ttl)
    except BadSignature as e:  # also SignatureExpired
        raise AuthError(f"{kind} token is invalid or expired: get a new one") from e
    if not isinstance(data, dict) or int(data.get("exp", 0)) < time.time():
        raise AuthError(f"{kind} token has expired: get a new one")
    return data
