"""Canned replies: texts admins prepare and agents insert with ``/shortcut``.

Admins manage them through the admin API (``/api/canned-replies``); every agent desktop
reads the list. Stored in one Redis hash (id -> JSON), at most ``MAX_REPLIES``.
"""

from __future__ import annotations

import json
import re

import redis

from chat import api_models as m
from chat.errors import BadInput, NotFoundError, Unavailable
from chat.keys import ChatKeys

MAX_REPLIES = 500
REPLY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class CannedReplies:
    """The canned replies of one routing domain."""

    def __init__(self, rds: redis.Redis, keys: ChatKeys) -> None:
        self.redis = rds
        self.keys = keys

    def list(self) -> list[m.CannedReplyOut]:
        """Every canned reply, by shortcut."""
        try:
            rows = self.redis.hgetall(self.keys.canned())
        except redis.RedisError as e:
            raise Unavailable(f"cannot read the canned replies: {e}") from e
        out = [m.CannedReplyOut(id=_s(k), **json.loads(v)) for k, v in rows.items()]
        return sorted(out, key=lambda r: (r.shortcut, r.id))

    def put(self, reply_id: str, body: m.CannedReplyBody) -> tuple[m.CannedReplyOut, bool]:
        """Create or replace one; returns it and whether it is new. A shortcut names one
        reply only (two replies behind one ``/shortcut`` would be ambiguous)."""
        check_id(reply_id)
        replies = self.list()
        clash = [r.id for r in replies if r.shortcut == body.shortcut and r.id != reply_id]
        if clash:
            raise BadInput(
                f"shortcut /{body.shortcut} is taken by canned reply {clash[0]!r}: "
                "choose another or change that one",
                code="shortcut_taken",
            )
        exists = any(r.id == reply_id for r in replies)
        if not exists and len(replies) >= MAX_REPLIES:
            raise BadInput(
                f"there are {MAX_REPLIES} canned replies already: remove some first",
                code="too_many",
            )
        try:
            self.redis.hset(self.keys.canned(), reply_id, body.model_dump_json())
        except redis.RedisError as e:
            raise Unavailable(f"cannot store the canned reply: {e}") from e
        return m.CannedReplyOut(id=reply_id, **body.model_dump()), not exists

    def remove(self, reply_id: str) -> None:
        check_id(reply_id)
        try:
            gone = self.redis.hdel(self.keys.canned(), reply_id)
        except redis.RedisError as e:
            raise Unavailable(f"cannot remove the canned reply: {e}") from e
        if not gone:
            raise NotFoundError(f"no canned reply {reply_id!r}")


def check_id(reply_id: str) -> str:
    if not REPLY_ID.match(reply_id):
        raise BadInput(
            "a canned reply id is 1-64 letters, digits, '.', '_' or '-'", code="bad_reply_id"
        )
    return reply_id


def _s(b: bytes | str) -> str:
    return b.decode() if isinstance(b, bytes) else b
