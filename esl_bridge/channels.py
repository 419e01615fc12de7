"""`show channels as json`: FreeSWITCH's live channels, the source of truth after a reconnect.

FreeSWITCH answers `{"row_count": 0}` (with a space and a newline) when there are none, and
`{"row_count":N,"rows":[{...}]}` otherwise; every row value is a string.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from esl_bridge.errors import EslProtocolError


@dataclass(frozen=True)
class ChannelRow:
    """One live channel as listed by `show channels`."""

    uuid: str
    direction: str
    name: str
    state: str
    call_state: str
    caller_id_number: str
    caller_id_name: str
    destination: str
    application: str
    call_uuid: str
    created_epoch: int | None
    presence_id: str


def show_rows(body: str, what: str) -> list[dict[str, object]]:
    """The rows of a `show <what> as json` answer; EslProtocolError if it is not that."""
    try:
        data = json.loads(body)
    except ValueError:
        raise EslProtocolError(f"show {what} answer is not JSON: {body[:120]!r}") from None
    if not isinstance(data, dict) or not isinstance(data.get("row_count"), int):
        raise EslProtocolError(f"show {what} answer has no row_count: {body[:120]!r}")
    rows = data.get("rows", [])
    if not isinstance(rows, list) or len(rows) != data["row_count"]:
        raise EslProtocolError(
            f"show {what} says row_count {data['row_count']} but lists "
            f"{len(rows) if isinstance(rows, list) else 'no'} rows"
        )
    for row in rows:
        if not isinstance(row, dict):
            raise EslProtocolError(f"show {what} row is not an object: {row!r:.120}")
    return rows


def parse_show_channels(body: str) -> list[ChannelRow]:
    """Rows of a `show channels as json` answer; EslProtocolError if it is not that."""
    result = []
    for row in show_rows(body, "channels"):
        if not row.get("uuid"):
            raise EslProtocolError(f"show channels row without uuid: {row!r:.120}")
        epoch = str(row.get("created_epoch", ""))
        result.append(
            ChannelRow(
                uuid=str(row["uuid"]),
                direction=str(row.get("direction", "")),
                name=str(row.get("name", "")),
                state=str(row.get("state", "")),
                call_state=str(row.get("callstate", "")),
                caller_id_number=str(row.get("cid_num", "")),
                caller_id_name=str(row.get("cid_name", "")),
                destination=str(row.get("dest", "")),
                application=str(row.get("application", "")),
                call_uuid=str(row.get("call_uuid", "")),
                created_epoch=int(epoch) if epoch.isdigit() else None,
                presence_id=str(row.get("presence_id", "")),
            )
        )
    return result
