"""API commands: what a handler returns, and the two the switch answers on its own -
`status` and `show` (mod_commands status_function and show_function).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

ApiResult = str | tuple[str, Callable[[], None]]
"""What an API command returns: its output, or its output and what it goes on doing after
answering (originate parks the answered leg, uuid_bridge bridges after replying)."""

ApiHandler = Callable[[str | None], ApiResult]

Rows = Callable[[], list[dict[str, str]]]

# fmt: off
# The `channels` table of FreeSWITCH 1.10/1.11 (core_db), in `show channels` column order.
CHANNEL_COLUMNS = (
    "uuid", "direction", "created", "created_epoch", "name", "state", "cid_name", "cid_num",
    "ip_addr", "dest", "application", "application_data", "dialplan", "context", "read_codec",
    "read_rate", "read_bit_rate", "write_codec", "write_rate", "write_bit_rate", "secure",
    "hostname", "presence_id", "presence_data", "accountcode", "callstate", "callee_name",
    "callee_num", "callee_direction", "call_uuid", "sent_callee_name", "sent_callee_num",
    "initial_cid_name", "initial_cid_num", "initial_ip_addr", "initial_dest", "initial_dialplan",
    "initial_context",
)
# fmt: on
# The core `registrations` table (switch_core_sqldb.c), which `show registrations` lists.
REGISTRATION_COLUMNS = (
    "reg_user",
    "realm",
    "token",
    "url",
    "expires",
    "network_ip",
    "network_port",
    "network_proto",
    "hostname",
    "metadata",
)  # fmt: skip


def status(started_at: float, channel_rows: Rows) -> str:
    """mod_commands status_function, as recorded in 01 (plural only when not 1), for a switch
    started at `started_at` (time.time()) whose channels are `channel_rows()`."""
    up = int((time.time() - started_at) * 1_000_000)

    def unit(value: int, name: str) -> str:
        return f"{value} {name}{'' if value == 1 else 's'}"

    seconds = up // 1_000_000
    parts = [
        unit(0, "year"),
        unit(seconds // 86400, "day"),
        unit(seconds // 3600 % 24, "hour"),
        unit(seconds // 60 % 60, "minute"),
        unit(seconds % 60, "second"),
        unit(up // 1000 % 1000, "millisecond"),
        unit(up % 1000, "microsecond"),
    ]
    sessions = len(channel_rows())
    return (
        f"UP {', '.join(parts)}\n"
        "FreeSWITCH (Version 1.11.1-release  64bit) is ready\n"
        f"{sessions} session(s) since startup\n"
        f"{sessions} session(s) - peak {sessions}, last 5min {sessions} \n"
        "0 session(s) per Sec out of max 30, peak 0, last 5min 0 \n"
        "200 session(s) max\n"
        "min idle cpu 0.00/99.00\n"
        "Current Stack Size/Max 240K/8192K\n"
    )


def show(arg: str | None, channel_rows: Rows, registration_rows: Rows) -> str:
    """mod_commands show_function: `channels`/`registrations` (json, delimited, count)."""
    words = (arg or "").split()
    if not words or words[0] not in ("channels", "registrations"):
        return "-USAGE: channels|registrations [count] [as json]\n"
    rows = channel_rows() if words[0] == "channels" else registration_rows()
    if words[1:2] == ["count"]:
        return f"\n{len(rows)} total.\n"
    if words[1:3] == ["as", "json"]:
        if not rows:
            return '{"row_count": 0}\n'
        return json.dumps(
            {"row_count": len(rows), "rows": rows}, separators=(",", ":"), ensure_ascii=False
        )
    columns = CHANNEL_COLUMNS if words[0] == "channels" else REGISTRATION_COLUMNS
    header = ",".join(columns)
    lines = [",".join(row.get(c, "") for c in columns) for row in rows]
    return "\n".join([header, *lines]) + f"\n\n{len(rows)} total.\n"
