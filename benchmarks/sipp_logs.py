"""Reading sipp's message logs (`-trace_msg`, with timestamps): when the first INVITE for
each caller was sent or received. pbx_route.py and voip_calls.py measure call set-up
time from them.
"""

from __future__ import annotations

import re
from datetime import datetime

_BLOCK = re.compile(r"^-{20,} (\S+)\s*$", re.MULTILINE)
_FROM_USER = re.compile(r"^From:.*?<sip:([^@>;]+)@", re.MULTILINE | re.IGNORECASE)
_CALL_ID = re.compile(r"^Call-ID:\s*(\S+)", re.MULTILINE | re.IGNORECASE)


def invites(log: str, direction: str) -> dict[str, float]:
    """caller number (From user) -> time of the first INVITE sent/received for it."""
    out: dict[str, float] = {}
    parts = _BLOCK.split(log)
    for stamp, body in zip(parts[1::2], parts[2::2], strict=False):
        head, _, message = body.partition("\n\n")
        if direction not in head:
            continue
        first = message.lstrip().split("\n", 1)[0]
        if not first.startswith("INVITE "):
            continue
        caller = _FROM_USER.search(message)
        if caller is None:
            continue
        t = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
        out.setdefault(caller.group(1), t)
    return out
