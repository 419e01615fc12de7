"""Ephemeral signals between chat instances (typing, read receipts) over Redis pub/sub.

Unlike transcript entries these may be lost (a typing dot is worthless a second later);
receipts are also stored in ``chat:receipts:<session>`` so a reconnecting client gets them.
"""

from __future__ import annotations

import json
from typing import Any

import redis

from chat.keys import ChatKeys


def publish(
    rds: redis.Redis,
    keys: ChatKeys,
    session_id: str,
    frame: dict[str, Any],
    kinds: tuple[str, ...] | None = None,
) -> None:
    """Send ``frame`` to every connection of ``kinds`` watching the session, everywhere."""
    msg = {"session_id": session_id, "frame": frame, "kinds": list(kinds) if kinds else None}
    rds.publish(keys.signals(), json.dumps(msg, separators=(",", ":")))


def store_receipt(
    rds: redis.Redis, keys: ChatKeys, session_id: str, party: str, entry_id: str
) -> bool:
    """Remember that ``party`` has seen the session up to ``entry_id`` (only moves forward)."""
    key = keys.receipts(session_id)
    current = rds.hget(key, party)
    if current is not None and _after(_s(current), entry_id):
        return False
    rds.hset(key, party, entry_id)
    return True


def receipts(rds: redis.Redis, keys: ChatKeys, session_id: str) -> dict[str, str]:
    return {_s(k): _s(v) for k, v in rds.hgetall(keys.receipts(session_id)).items()}


def _s(b: bytes | str) -> str:
    return b.decode() if isinstance(b, bytes) else b


def _after(a: str, b: str) -> bool:
    """True when stream id ``a`` is at or after ``b``."""
    am, _, asq = a.partition("-")
    bm, _, bsq = b.partition("-")
    return (int(am), int(asq or 0)) >= (int(bm), int(bsq or 0))
