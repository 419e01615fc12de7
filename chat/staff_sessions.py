"""Server-side sessions of agents and admins, so a login can be revoked.

Every login (the form's cookie or a bearer token from POST /api/auth/token) starts a
session: a random id kept in Redis for as long as the token lives, and written into the
signed token. A token is good only while its session exists AND its account still has
the token's generation. Logout deletes the session, so a copy of the cookie taken before
is worthless afterwards; an admin (or the account itself) can revoke one token or every
session of an account (which also bumps the account's generation, so a login racing
with the revocation cannot survive it). Open websockets are re-checked every
``session_check_interval`` seconds (:mod:`chat.session_watch`).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence

import redis

from chat.accounts import Role
from chat.errors import NotFoundError, Unavailable
from chat.keys import ChatKeys
from chat.tokens import StaffPrincipal


class StaffSessions:
    """Start, check and revoke staff sessions. Thread/greenlet safe (redis-py pool)."""

    def __init__(self, rds: redis.Redis, keys: ChatKeys, ttl: int) -> None:
        self._r = rds
        self._k = keys
        self.ttl = ttl

    def start(self, role: Role, account_id: str) -> str:
        """A new session of the account; returns its id (goes into the signed token)."""
        session_id = secrets.token_urlsafe(18)
        index = self._k.staff_sessions(role.value, account_id)
        try:
            pipe = self._r.pipeline()
            pipe.set(self._k.staff_session(session_id), _owner(role, account_id), ex=self.ttl)
            pipe.sadd(index, session_id)
            pipe.expire(index, self.ttl)
            pipe.execute()
        except redis.RedisError as e:
            raise Unavailable(f"cannot store the login session in Redis: {e}") from e
        return session_id

    def live(self, principals: Sequence[StaffPrincipal], now: float | None = None) -> list[bool]:
        """For each principal: is its token still good (session kept, account with the same
        generation, not expired)? One Redis round trip for all of them."""
        if not principals:
            return []
        try:
            pipe = self._r.pipeline(transaction=False)
            for p in principals:
                pipe.hmget(self._k.account(p.role.value, p.account_id), "gen", "hash")
                pipe.get(self._k.staff_session(p.session_id))
            replies = pipe.execute()
        except redis.RedisError as e:
            raise Unavailable(f"cannot check the login sessions in Redis: {e}") from e
        now = time.time() if now is None else now
        out = []
        for i, p in enumerate(principals):
            (gen, digest), owner = replies[2 * i], replies[2 * i + 1]
            out.append(
                bool(digest)
                and int(gen or 0) == p.generation
                and _text(owner) == _owner(p.role, p.account_id)
                and p.expires > now
            )
        return out

    def revoke(self, principal: StaffPrincipal) -> int:
        """End one session (a logout, or a revoked token); returns 1 if it was live."""
        index = self._k.staff_sessions(principal.role.value, principal.account_id)
        try:
            pipe = self._r.pipeline()
            pipe.delete(self._k.staff_session(principal.session_id))
            pipe.srem(index, principal.session_id)
            deleted, _ = pipe.execute()
        except redis.RedisError as e:
            raise Unavailable(f"cannot revoke the login session in Redis: {e}") from e
        return int(deleted)

    def revoke_all(self, role: Role, account_id: str) -> int:
        """End every session of the account; returns how many were live."""
        account = self._k.account(role.value, account_id)
        index = self._k.staff_sessions(role.value, account_id)
        try:
            if not self._r.hget(account, "hash"):
                raise NotFoundError(f"no {role.value} login {account_id!r}")
            ids = [_text(x) for x in self._r.smembers(index)]
            pipe = self._r.pipeline()
            pipe.hincrby(account, "gen", 1)  # tokens of a login racing with us die too
            for session_id in ids:
                pipe.delete(self._k.staff_session(session_id))
            pipe.delete(index)
            replies = pipe.execute()
        except redis.RedisError as e:
            raise Unavailable(f"cannot revoke the login sessions in Redis: {e}") from e
        return sum(int(n) for n in replies[1:-1])


def _owner(role: Role, account_id: str) -> str:
    return f"{role.value}:{account_id}"


def _text(b: bytes | str | None) -> str:
    return b.decode() if isinstance(b, bytes) else (b or "")
