"""What every part of the call flow shares: the PBX's id, the admin config, the router's
operations, the call book, the clock, and how the bridge names the legs it places."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from admin_config.model import AdminConfig
from router.client import RouterOps
from router.errors import RouterError

from . import transcript
from .records import Call, CallBook
from .steps import Ask, Flow

log = logging.getLogger("implus.callflow")

USER_FILTER = re.compile(r"[^0-9A-Za-z+._@]")
"""The characters a caller's user id keeps (the entry point's user id expression on both
PBXs), so the same caller gets the same user id on either PBX."""


def user_id(raw: str | None, fallback: str) -> str:
    """The router's user id for a caller: `raw` filtered, or `fallback` if nothing is left
    (an anonymous caller is known by its call id only)."""
    cleaned = USER_FILTER.sub("", raw or "")[:128]
    return cleaned or fallback


@dataclass
class FlowContext:
    pbx_id: str
    config: AdminConfig
    ops: RouterOps
    book: CallBook
    leg_id: Callable[[str], str]
    """The id the bridge gives a leg it places for `key` (an offer, a click-to-call id):
    the same key always names the same leg, so a repeated command cannot ring twice."""
    chooses_agent_legs: bool
    """The bridge places inbound agent legs itself (FreeSWITCH originates them), so their
    ids are known when ringing starts; Asterisk rings from the caller's Dial and learns the
    leg's id from it (`LegRinging`)."""
    clock: Callable[[], int]

    def now(self) -> int:
        return self.clock()

    def seconds_since(self, ms: int) -> float:
        return round(max(0, self.clock() - ms) / 1000, 3) if ms else 0.0

    def note(self, call: Call, etype: str, key: str = "", /, **data: Any) -> Flow:
        """A transcript entry of `call` (`callflow.transcript.note`)."""
        return transcript.note(self.ops, self.pbx_id, call, etype, key, **data)

    def ask(self, what: str, op: Any) -> Flow:
        """A router operation whose failure is logged, not raised (reconciliation repairs
        what it left undone); its result, or None."""
        try:
            result = yield Ask(op, what)
        except RouterError as e:
            log.error("router call %s failed: %s", what, e)
            return None
        if getattr(result, "ok", True) is False:
            log.info("router refused %s: %s", what, getattr(result, "reason", ""))
        return result
