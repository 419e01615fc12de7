"""The call events a call writes into its session's transcript, the same from both PBXs.

Every entry has `call_id` (the customer's channel for an inbound call, the agent's for an
outbound one), `pbx`, `direction`, and `leg` / `party` (`customer` / `agent`) saying which
channel it is about; docs/call-flow.md lists the types and fields. Its client message id
`<pbx>:<leg>:<type>[:<key>]` makes a repeat (after a restart, a replayed event) write
nothing.
The entries are appended in the same Redis round trip as the flow's next router operation,
in front of it (`callflow.drive`): whoever sees the router's change finds the entry.
"""

from __future__ import annotations

import logging
from typing import Any

from router.client import RouterOps
from router.errors import RouterError

from .records import Call
from .steps import Ask, Flow, Note

log = logging.getLogger("implus.callflow")


def note(
    ops: RouterOps, pbx_id: str, call: Call, etype: str, key: str = "", /, **data: Any
) -> Flow:
    """Yield the transcript entry `etype` of `call` (empty fields left out). A call whose
    session is not known yet (its record was not saved before a restart) looks it up from
    its routing request first."""
    if not call.session and call.request:
        try:
            request = yield Ask(ops.request(call.request), "the session of a call")
        except RouterError as e:
            log.warning("transcript entry %s of call %s not written: %s", etype, call.id, e)
            return
        call.session = request.session_id if request else ""
    if not call.session:
        return
    leg = str(data.get("leg") or call.id)
    entry = {
        "type": etype,
        "call_id": call.id,
        "pbx": pbx_id,
        "direction": call.direction,
        **{k: v for k, v in data.items() if v is not None and v != ""},
    }
    cmid = f"{pbx_id}:{leg}:{etype}" + (f":{key}" if key else "")
    yield Note(call.session, entry, cmid[:128])


def report_notes(notes: list[Note], results: list[Any]) -> None:
    """Log the transcript entries an append refused (their results are exceptions)."""
    for item, result in zip(notes, results, strict=True):
        if isinstance(result, Exception):
            log.warning(
                "transcript entry %s of %s not written: %s",
                item.entry.get("type"),
                item.session,
                result,
            )
