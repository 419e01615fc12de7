"""The call events a call writes into its session's transcript, the same from both PBXs.

Every entry has `call_id` (the customer's channel for an inbound call, the agent's for an
outbound one), `pbx`, `direction`, and `leg` / `party` (`customer` / `agent`) saying which
channel it is about; docs/call-flow.md lists the types and fields. Its client message id
`<pbx>:<leg>:<type>[:<key>]` makes a repeat (after a restart, a replayed event) write
nothing.

`TranscriptQueue` collects entries and hands them out in batches: each bridge appends them
in the background from one task/greenlet, so under load dozens share a round trip and
their order is kept.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from router.client import RouterOps
from router.errors import RouterError
from router.ops import Op

from .records import Call
from .steps import Ask, Flow, Note, captured, together

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


@dataclass
class TranscriptQueue:
    """Transcript entries waiting to be appended, in order."""

    ops: RouterOps
    max_batch: int = 200
    _queue: list[Note] = field(default_factory=list)

    def add(self, item: Note) -> None:
        self._queue.append(item)

    def __len__(self) -> int:
        return len(self._queue)

    def batches(self) -> Iterator[tuple[list[Note], Op[list[Any]]]]:
        """Take what is queued, in batches: each with one op appending all of it."""
        while self._queue:
            batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
            yield (
                batch,
                together(
                    *(captured(self.ops.append(n.session, n.entry, cmid=n.cmid)) for n in batch)
                ),
            )

    @staticmethod
    def report(batch: list[Note], results: list[Any] | BaseException) -> None:
        """Log what a batch could not write (an append refused, Redis unreachable)."""
        if isinstance(results, BaseException):
            log.warning("%d transcript entries not written: %s", len(batch), results)
            return
        for item, result in zip(batch, results, strict=True):
            if isinstance(result, Exception):
                log.warning(
                    "transcript entry %s of %s not written: %s",
                    item.entry.get("type"),
                    item.session,
                    result,
                )
