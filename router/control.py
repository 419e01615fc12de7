"""Call control and listening in: the router operations behind the agent's call buttons and
the supervisor's listen / whisper / barge (docs/router-api.md, "Call control").

Each is one Lua script (`call_control.lua`): it finds the session's live call (its accepted
voice request with a PBX call id), checks that `by` is the agent on it unless a supervisor
asks, writes the request into the transcript and adds the command to that PBX's stream
(`call_control` / `supervise`, parsed by `callflow.commands`). A blind transfer to a queue
or an agent is the router's own `transfer` (the caller goes back on hold and is routed
again). `handover` is the router's side of an attended transfer the bridge completed.
Written as `router.ops` operations: run them with either client (`client.run(op)`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from router.client import RouterOps, new_id
from router.errors import InvalidInput
from router.ops import Op, Script

CallAction = Literal[
    "hold", "resume", "mute", "unmute", "transfer", "consult", "complete", "cancel", "hangup"
]
CALL_ACTIONS: tuple[str, ...] = (
    "hold", "resume", "mute", "unmute", "transfer", "consult", "complete", "cancel", "hangup"
)  # fmt: skip
SPY_MODES: tuple[str, ...] = ("listen", "whisper", "barge", "stop")
TARGET_KINDS: tuple[str, ...] = ("agent", "queue", "number")
NUMBER = re.compile(r"^\+?[0-9]{2,32}$")
ID = re.compile(r"^[^{}:\s]{1,128}$")


def _check_id(name: str, value: str) -> str:
    """The router's id rule (no spaces, colons or braces; at most 128 characters)."""
    if not isinstance(value, str) or not ID.match(value):
        raise InvalidInput(
            f"{name} must be a non-empty string of at most 128 characters without spaces, "
            f"colons or braces, got {value!r}"
        )
    return value


@dataclass(frozen=True)
class Controlled:
    """A call-control request the router accepted: the request of the call and the PBX
    command's stream id ('' when the router carried it out itself)."""

    ok: bool
    reason: str = ""
    request_id: str = ""
    command_id: str = ""


def call_control(
    ops: RouterOps,
    session_id: str,
    action: str,
    by: str,
    *,
    supervisor: bool = False,
    target_kind: str = "",
    target: str = "",
) -> Op[Controlled]:
    """Ask the PBX of the session's live call to `action` it (hold, resume, mute, unmute,
    transfer, consult, complete, cancel, hangup). `transfer` / `consult` need a target:
    an `agent` id, a `queue` (transfer only) or a `number`. A blind transfer to a queue or
    an agent is done by the router itself (`transfer`)."""
    _check_id("session id", session_id)
    _check_id("by", by)
    if action not in CALL_ACTIONS:
        raise InvalidInput(f"action must be one of {', '.join(CALL_ACTIONS)}, got {action!r}")
    needs_target = action in ("transfer", "consult")
    if needs_target:
        if target_kind not in TARGET_KINDS:
            raise InvalidInput(f"{action} needs target_kind agent, queue or number")
        if action == "consult" and target_kind == "queue":
            raise InvalidInput(
                "a consult is with an agent or a number; transfer to a queue is blind"
            )
        if target_kind == "number":
            if not NUMBER.match(target):
                raise InvalidInput(f"the number must be digits (optionally +), got {target!r}")
        else:
            _check_id(target_kind, target)
    elif target_kind or target:
        raise InvalidInput(f"{action} takes no target")
    routed = action == "transfer" and target_kind in ("agent", "queue")
    kind = "authorize" if routed else "call_control"
    reply = yield Script(
        "call_control",
        (session_id, kind, action, by, "1" if supervisor else "0", target_kind, target),
    )
    if int(reply[0]) != 1:
        return Controlled(False, str(reply[1]))
    request_id = str(reply[1])
    if not routed:
        return Controlled(True, request_id=request_id, command_id=str(reply[2]))
    moved = yield from ops.transfer(
        request_id,
        queue=target if target_kind == "queue" else "",
        agent_id=target if target_kind == "agent" else "",
        by=by,
    )
    if not moved.ok:
        return Controlled(False, moved.reason, request_id)
    return Controlled(True, request_id=moved.request_id)


def supervise(ops: RouterOps, session_id: str, supervisor: str, mode: str) -> Op[Controlled]:
    """A supervisor listens to (`listen`), whispers to the agent of (`whisper`), barges in
    on (`barge`) or leaves (`stop`) the session's live call: the PBX rings the
    supervisor's phone (docs/call-flow.md)."""
    _check_id("session id", session_id)
    _check_id("supervisor", supervisor)
    if mode not in SPY_MODES:
        raise InvalidInput(f"mode must be one of {', '.join(SPY_MODES)}, got {mode!r}")
    reply = yield Script("call_control", (session_id, "supervise", mode, supervisor, "1", "", ""))
    if int(reply[0]) != 1:
        return Controlled(False, str(reply[1]))
    return Controlled(True, request_id=str(reply[1]), command_id=str(reply[2]))


def handover(ops: RouterOps, request_id: str, agent_id: str, by: str = "") -> Op[Controlled]:
    """An attended transfer completed on the PBX: the call of `request_id` goes on with
    `agent_id` as a new accepted request (the first agent's contact ends)."""
    reply = yield Script(
        "handover",
        (_check_id("request id", request_id), new_id(), _check_id("agent", agent_id), by),
    )
    if int(reply[0]) != 1:
        return Controlled(False, str(reply[1]))
    return Controlled(True, request_id=str(reply[1]))
