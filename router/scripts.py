"""The atomic state transitions, as Lua scripts (``router/lua/*.lua``).

Each script is the shared prelude (``prelude.lua``: key names, event emission, the agent
availability check and the helpers several transitions share) followed by its body. Every
script takes ``ARGV[1]`` = key prefix and ``ARGV[2]`` = now (ms); the rest is documented
at the top of each file. A refused transition returns ``{0, reason}``: losing a race is a
normal outcome, not an exception.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

NAMES = (
    "submit",
    "enqueue",
    "reserve",
    "accept",
    "release",
    "cancel",
    "complete",
    "set_status",
    "heartbeat",
    "expire_leases",
    "claim_timers",
    "overflow",
    "upsert_agent",
    "remove_agent",
    "transfer",
    "close_session",
    "append",
    "load_strategy",
    "force_status",
    "move_request",
    "call_control",
    "handover",
)


@cache
def source(name: str) -> str:
    """The full Lua source of script ``name`` (prelude + body)."""
    if name not in NAMES:
        raise KeyError(f"no script {name!r}")
    lua = files("router") / "lua"
    return (lua / "prelude.lua").read_text() + "\n" + (lua / f"{name}.lua").read_text()
