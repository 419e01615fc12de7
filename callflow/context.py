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
from .steps import Ask, Flow, Later

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
    completes_later: bool = False
    """A contact's `complete` when its call ends goes with the driver's deferred writes
    (`Later`) instead of in a round trip of its own: the ESL bridge's shared flush frees
    the agent up to its `deferred_window` later (docs/esl-bridge.md)."""

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
        return _refusal_logged(what, result)

    def complete(self, request_id: str, disposition: str) -> Flow:
        """The contact of a call that ended is complete (the agent freed): now, or with
        the deferred writes when `completes_later` (nothing in the flow needs its result)."""
        op = self.ops.complete(request_id, disposition)
        if self.completes_later:
            yield Later(logged("complete", op), "complete")
        else:
            yield from self.ask("complete", op)


def logged(what: str, op: Any) -> Any:
    """`op` with a failure or a refusal logged, not raised (as `FlowContext.ask`): a `Later`
    op rides with other calls' steps, which its failure must not fail."""
    try:
        result = yield from op
    except Exception as e:
        log.error("router call %s failed: %s", what, e)
        return None
    return _refusal_logged(what, result)


def _refusal_logged(what: str, result: Any) -> Any:
    if getattr(result, "ok", True) is False:
        log.info("router refused %s: %s", what, getattr(result, "reason", ""))
    return result
