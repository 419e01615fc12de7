"""Client operations on sessions: lookup, history, the transcript, closing, click-to-call."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from router.client.base import OpsBase
from router.client.values import (
    MAX_ENTRY_BYTES,
    MAX_ID,
    Appended,
    Result,
    check_id,
    entry_json,
    new_id,
    result_of,
    transcript_entry,
)
from router.errors import InvalidInput, NotFound
from router.model import RoutingRequest, Session
from router.ops import Batch, Op, Script, cmd, pairs


class SessionOps(OpsBase):
    def session(self, session_id: str) -> Op[Session | None]:
        h = pairs((yield cmd("HGETALL", self.keys.session(session_id))))
        return Session.from_hash(h) if h else None

    def open_session(self, user_id: str, service: str) -> Op[Session | None]:
        """The user's open session for ``service``, if any."""
        sid = yield cmd("GET", self.keys.session_open(user_id, service))
        if not sid:
            return None
        return (yield from self.session(sid))

    def history(self, user_id: str, limit: int = 20) -> Op[list[Session]]:
        """The user's sessions, newest first (open and closed)."""
        ids = yield cmd("ZREVRANGE", self.keys.user_sessions(user_id), 0, max(0, limit - 1))
        if not ids:
            return []
        replies = yield Batch(tuple(cmd("HGETALL", self.keys.session(s)) for s in ids))
        return [Session.from_hash(pairs(r)) for r in replies if r]

    def session_requests(self, session_id: str) -> Op[list[RoutingRequest]]:
        ids = sorted((yield cmd("SMEMBERS", self.keys.session_requests(session_id))))
        return (yield from self._requests(ids))

    def append(self, session_id: str, entry: Mapping[str, Any], cmid: str = "") -> Op[Appended]:
        """Add ``entry`` (a dict with a ``type``) to the session transcript, once per ``cmid``."""
        etype = entry.get("type")
        if not isinstance(etype, str) or not etype or len(etype) > 64:
            raise InvalidInput("a transcript entry needs a 'type' string of at most 64 characters")
        data = entry_json({k: v for k, v in entry.items() if k not in ("type", "id", "at")})
        if len(data) > MAX_ENTRY_BYTES:
            raise InvalidInput(f"a transcript entry is limited to {MAX_ENTRY_BYTES} bytes")
        if len(cmid) > MAX_ID:
            raise InvalidInput(f"client message ids are limited to {MAX_ID} characters")
        reply = yield Script("append", (check_id("session id", session_id), etype, data, cmid))
        if int(reply[0]) != 1:
            raise NotFound(f"session {session_id!r} does not exist")
        return Appended(str(reply[1]), bool(int(reply[2])), str(reply[3]))

    def transcript(
        self, session_id: str, after: str = "0-0", count: int = 1000
    ) -> Op[list[dict[str, Any]]]:
        """Entries after stream id ``after`` (exclusive), oldest first."""
        start = "(" + after if after not in ("0", "0-0", "-") else "-"
        rows = yield cmd("XRANGE", self.keys.transcript(session_id), start, "+", "COUNT", count)
        return [transcript_entry(i, pairs(f) if isinstance(f, list) else f) for i, f in rows]

    def close_session(self, session_id: str, disposition: str = "", by: str = "") -> Op[Result]:
        """Close a session: contacts in progress end, waiting requests are dropped."""
        return result_of(
            (
                yield Script(
                    "close_session", (check_id("session id", session_id), disposition[:200], by, 0)
                )
            )
        )

    def close_if_idle(self, session_id: str, idle_since_ms: int) -> Op[Result]:
        """Close the session if nothing happened in it since ``idle_since_ms``."""
        return result_of(
            (yield Script("close_session", (session_id, "idle", "router", idle_since_ms)))
        )

    def click_to_call(self, session_id: str, agent_id: str, number: str) -> Op[str]:
        """Ask the agent's PBX for an outbound VoIP call: agent's phone first, then ``number``.
        Returns the command id on the PBX's command stream."""
        if not number or not number.lstrip("+").isdigit() or len(number) > 32:
            raise InvalidInput(f"the number must be digits (optionally +), got {number!r}")
        reply = yield Script(
            "click_to_call",
            (new_id(), check_id("session id", session_id), check_id("agent id", agent_id), number),
        )
        if int(reply[0]) == 1:
            return str(reply[1])
        if reply[1] == "no pbx":
            raise InvalidInput(
                f"agent {agent_id!r} has no PBX in their profile: set pbx/endpoint first"
            )
        if reply[1] == "unknown agent":
            raise NotFound(f"agent {agent_id!r} is not configured")
        raise NotFound(f"session {session_id!r} does not exist")
