"""Who the customer is, for the agent beside the conversation: profile, visit, history.

- The profile (name, language, tags, VIP level) comes from the embedding site's backend
  with the customer token (``POST /api/customer-tokens`` with ``profile``). It is stored
  per user id; chat routing requests carry it as the customer facts strategies match on
  (``customer.vip``, ``customer.tags``...).
- The visit - the page, its title, the referrer, the browser and its language - is what
  the widget reports in its ``hello``; the first one seen in a session is kept with it
  (where the chat started).
- Phone callers bring facts of their own in their routing request (number, entry point,
  language); the context merges them in.

Everything a customer wrote is untrusted text; pages show it with textContent only.
"""

from __future__ import annotations

import json
from typing import Any

import redis

from chat.errors import Unavailable
from chat.keys import ChatKeys
from chat.visibility import call_key
from router.client import RouterClient, transcript_entry

VISIT_TTL_S = 30 * 24 * 3600
"""A session's visit is kept as long as the router keeps closed sessions' requests."""
SEARCH_SESSIONS = 50
SEARCH_ENTRIES = 2000
"""At most this many sessions, and entries per session, are searched."""
PREVIEW_CHARS = 140
PREVIEW_ENTRIES = 200
FACT_FIELDS = ("name", "language", "tags", "vip")
"""Profile fields handed to the router as customer facts."""


class CustomerStore:
    """Profiles per user id and visits per session, in the chat service's Redis keys."""

    def __init__(self, rds: redis.Redis, keys: ChatKeys) -> None:
        self.redis = rds
        self.keys = keys

    def save_profile(self, user_id: str, profile: dict[str, Any]) -> None:
        """Replace the user's profile (empty fields dropped)."""
        kept = {k: v for k, v in profile.items() if v not in (None, "", [], 0)}
        try:
            if kept:
                self.redis.set(self.keys.customer(user_id), json.dumps(kept))
            else:
                self.redis.delete(self.keys.customer(user_id))
        except redis.RedisError as e:
            raise Unavailable(f"cannot store the customer profile: {e}") from e

    def profile(self, user_id: str) -> dict[str, Any]:
        """The user's profile, {} when none was given."""
        try:
            raw = self.redis.get(self.keys.customer(user_id))
        except redis.RedisError as e:
            raise Unavailable(f"cannot read the customer profile: {e}") from e
        return _json_object(raw)

    def facts(self, user_id: str) -> dict[str, Any]:
        """The profile as router customer facts (for strategy conditions)."""
        return {k: v for k, v in self.profile(user_id).items() if k in FACT_FIELDS}

    def save_visit(self, session_id: str, visit: dict[str, Any]) -> bool:
        """Keep where a session's chat started; the first visit stays. True if stored."""
        try:
            return bool(
                self.redis.set(
                    self.keys.visit(session_id), json.dumps(visit), nx=True, ex=VISIT_TTL_S
                )
            )
        except redis.RedisError as e:
            raise Unavailable(f"cannot store the visit: {e}") from e

    def visit(self, session_id: str) -> dict[str, Any]:
        try:
            return _json_object(self.redis.get(self.keys.visit(session_id)))
        except redis.RedisError as e:
            raise Unavailable(f"cannot read the visit: {e}") from e


def _json_object(raw: bytes | str | None) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def customer_context(
    store: CustomerStore, client: RouterClient, session_id: str, user_id: str
) -> dict[str, Any]:
    """What the agent sees beside a conversation: who (profile merged with the facts of
    the session's routing requests), where the chat started, the requests with their ids
    (for `implus router explain`)."""
    requests = sorted(client.session_requests(session_id), key=lambda r: r.created)
    facts: dict[str, Any] = {}
    for r in requests:  # later requests know more (a caller's number, a language)
        facts.update({k: v for k, v in (r.customer or {}).items() if v not in (None, "")})
    profile = store.profile(user_id)
    return {
        "user_id": user_id,
        "name": profile.get("name") or facts.get("name") or "",
        "language": profile.get("language") or facts.get("language") or "",
        "tags": list(profile.get("tags") or facts.get("tags") or []),
        "vip": int(profile.get("vip") or facts.get("vip") or 0),
        "number": str(facts.get("number") or ""),
        "entry": str(facts.get("entry") or ""),
        "visit": store.visit(session_id),
        "requests": [
            {
                "id": r.id,
                "channel": r.channel.value,
                "state": r.state.value,
                "agent": r.agent,
                "created": r.created,
                "call_id": r.call_id,
            }
            for r in requests
        ],
    }


def search_history(client: RouterClient, user_id: str, query: str, limit: int = 50) -> list[dict]:
    """Entries of the customer's sessions (open and closed, newest session first) whose
    text or file name contains ``query`` (case-insensitive), with a snippet around it."""
    needle = query.casefold()
    hits: list[dict[str, Any]] = []
    for session in client.history(user_id, limit=SEARCH_SESSIONS):
        for entry in client.transcript(session.id, after="0-0", count=SEARCH_ENTRIES):
            text = _searchable(entry)
            at = text.casefold().find(needle)
            if at < 0:
                continue
            hits.append(
                {
                    "session_id": session.id,
                    "service": session.service,
                    "session_created": session.created,
                    "disposition": session.disposition,
                    "id": entry.get("id"),
                    "type": entry.get("type"),
                    "at": entry.get("at"),
                    "from": entry.get("from", ""),
                    "snippet": _snippet(text, at, len(needle)),
                }
            )
            if len(hits) >= limit:
                return hits
    return hits


def _searchable(entry: dict[str, Any]) -> str:
    if entry.get("type") not in ("message", "note", "callback"):
        return ""
    name = entry.get("file", {}).get("name", "") if isinstance(entry.get("file"), dict) else ""
    return " ".join(x for x in (str(entry.get("text") or ""), name) if x)


def _snippet(text: str, at: int, length: int, around: int = 60) -> str:
    start, end = max(0, at - around), min(len(text), at + length + around)
    return ("…" if start else "") + text[start:end] + ("…" if end < len(text) else "")


def offer_preview(
    store: CustomerStore, client: RouterClient, session_id: str, user_id: str, channel: str
) -> dict[str, Any]:
    """What an offer shows before it is accepted: the customer's name and VIP level, and
    the customer's first message since the chat was filed (or the caller's number)."""
    profile = store.profile(user_id)
    out: dict[str, Any] = {"customer_name": profile.get("name", ""), "vip": profile.get("vip", 0)}
    entries = recent_entries(client, session_id, PREVIEW_ENTRIES)
    start = max(
        (i for i, e in enumerate(entries) if e.get("type") == "request"), default=0
    )  # the newest routing request: the contact being offered
    preview = ""
    for e in entries[start:]:
        if e.get("from") == "customer" and e.get("type") in ("message", "callback"):
            preview = str(e.get("text") or "") or _file_line(e)
            break
        if channel != "chat" and e.get("type") == "call.answered" and call_key(e):
            preview = f"call from {e.get('number') or 'an unknown number'}"
    out["preview"] = preview[:PREVIEW_CHARS] + ("…" if len(preview) > PREVIEW_CHARS else "")
    return out


def recent_entries(client: RouterClient, session_id: str, count: int) -> list[dict[str, Any]]:
    """The session's last ``count`` transcript entries, oldest first (one round trip)."""
    rows: list[Any] = client.redis.xrevrange(
        client.keys.transcript(session_id), "+", "-", count=count
    )
    return [transcript_entry(str(i), f) for i, f in reversed(rows)]


def _file_line(entry: dict[str, Any]) -> str:
    f = entry.get("file")
    return f"sent a file: {f.get('name', '')}" if isinstance(f, dict) else ""
