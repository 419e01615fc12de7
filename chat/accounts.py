"""Logins of agents and admins: argon2 password hashes kept in Redis.

Agents are router agents (their profile lives in the router); this module only keeps the
chat-side login of each. Admins exist only here. Every account has a generation number
that is bumped on password change or removal, and signed tokens carry it, so old tokens
stop working at once.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from enum import StrEnum

import redis
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from chat.errors import BadInput, NotFoundError, Unavailable
from chat.keys import ChatKeys

ACCOUNT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MIN_PASSWORD = 8
MAX_PASSWORD = 1024


class Role(StrEnum):
    AGENT = "agent"
    ADMIN = "admin"


@dataclass(frozen=True)
class Account:
    id: str
    role: Role
    generation: int
    name: str = ""


def check_account_id(account_id: str) -> str:
    """Return the id, or raise BadInput saying what an id may contain."""
    if not isinstance(account_id, str) or not ACCOUNT_ID.match(account_id):
        raise BadInput(
            "an account id is 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit",
            code="bad_account_id",
        )
    return account_id


class AccountStore:
    """Create, check and remove logins. Thread/greenlet safe (redis-py pool)."""

    def __init__(self, rds: redis.Redis, keys: ChatKeys, hasher: PasswordHasher | None = None):
        self.redis = rds
        self.keys = keys
        self._ph = hasher or PasswordHasher()
        # Verified against when the account is unknown, so timing does not tell which ids exist.
        self._dummy = self._ph.hash("not a real password, only for constant time")

    def set_password(self, role: Role, account_id: str, password: str, name: str = "") -> Account:
        """Create the login or change its password (which revokes its existing tokens)."""
        check_account_id(account_id)
        if not isinstance(password, str) or not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
            raise BadInput(
                f"a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters",
                code="bad_password",
            )
        digest = self._ph.hash(password)
        key = self.keys.account(role.value, account_id)
        try:
            pipe = self.redis.pipeline()
            pipe.hset(key, mapping={"id": account_id, "hash": digest, "created": int(time.time())})
            if name:
                pipe.hset(key, "name", name)
            pipe.hincrby(key, "gen", 1)
            pipe.sadd(self.keys.accounts(role.value), account_id)
            res = pipe.execute()
        except redis.RedisError as e:
            raise Unavailable(f"cannot store the account in Redis: {e}") from e
        return Account(account_id, role, int(res[-2]), name)

    def get(self, role: Role, account_id: str) -> Account | None:
        try:
            h = self.redis.hgetall(self.keys.account(role.value, account_id))
        except redis.RedisError as e:
            raise Unavailable(f"cannot read the account from Redis: {e}") from e
        if not h.get(b"hash"):
            return None
        return Account(_s(h[b"id"]), role, int(h.get(b"gen", 0)), _s(h.get(b"name", b"")))

    def verify(self, role: Role, account_id: str, password: str) -> Account | None:
        """The account if the password matches, else None (same time either way)."""
        if not isinstance(account_id, str) or not ACCOUNT_ID.match(account_id):
            account_id = "-"
        try:
            h = self.redis.hgetall(self.keys.account(role.value, account_id))
        except redis.RedisError as e:
            raise Unavailable(f"cannot read the account from Redis: {e}") from e
        digest = _s(h.get(b"hash", b"")) or self._dummy
        try:
            self._ph.verify(digest, password if isinstance(password, str) else "")
        except (VerificationError, InvalidHashError):
            return None
        if not h.get(b"hash"):
            return None
        if self._ph.check_needs_rehash(digest):
            self.redis.hset(
                self.keys.account(role.value, account_id), "hash", self._ph.hash(password)
            )
        return Account(account_id, role, int(h.get(b"gen", 0)), _s(h.get(b"name", b"")))

    def remove(self, role: Role, account_id: str) -> None:
        key = self.keys.account(role.value, account_id)
        try:
            # The hash stays with an empty password and a bumped generation, so tokens of a
            # removed account never come back to life if the id is created again.
            if not self.redis.hget(key, "hash"):
                raise NotFoundError(f"no {role.value} login {account_id!r}")
            pipe = self.redis.pipeline()
            pipe.hset(key, "hash", "")
            pipe.hincrby(key, "gen", 1)
            pipe.srem(self.keys.accounts(role.value), account_id)
            pipe.execute()
        except redis.RedisError as e:
            raise Unavailable(f"cannot remove the account in Redis: {e}") from e

    def ids(self, role: Role) -> list[str]:
        return sorted(_s(x) for x in self.redis.smembers(self.keys.accounts(role.value)))


def _s(b: bytes | str) -> str:
    return b.decode() if isinstance(b, bytes) else b
