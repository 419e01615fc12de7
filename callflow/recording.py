"""Call recording, decided once for both PBXs: which calls, which file, what the transcript
says (docs/call-flow.md, "Call control").

A call of a service whose `recording` is enabled in the admin YAML is recorded from the
moment customer and agent are connected until it ends. The file is named by the flow -
`<service>/<YYYY-MM-DD>/<call id>-<ms>.wav`, relative to the PBX's `recordings_dir` - so
the chat service finds it from the transcript entry (`call.recording`: `file`, `pbx`) in
its own mapping of that folder. Only characters that are inert in AMI headers, ESL
commands and file systems reach the name.
"""

from __future__ import annotations

import logging
import re
import time

from . import intents as do
from .context import FlowContext
from .records import Call
from .steps import Do, Flow, Save

log = logging.getLogger("implus.callflow")

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def file_name(service: str, call_id: str, now_ms: int) -> str:
    """The recording's name relative to the PBX's recordings folder."""
    day = time.strftime("%Y-%m-%d", time.gmtime(now_ms / 1000))
    safe_call = _UNSAFE.sub("", call_id).lstrip(".")[:96] or "call"
    safe_service = _UNSAFE.sub("", service).lstrip(".")[:64] or "service"
    return f"{safe_service}/{day}/{safe_call}-{now_ms}.wav"


def start(ctx: FlowContext, call: Call) -> Flow:
    """Start recording a call just connected, if its service records calls."""
    if call.recording or not call.service:
        return
    try:
        settings = ctx.config.service(call.service).recording
        root = ctx.config.pbx(ctx.pbx_id).recordings_root
    except KeyError:
        return  # a service the admin YAML no longer has: nothing to record by
    if settings is None or not settings.enabled:
        return
    name = file_name(call.service, call.id, ctx.now())
    if not (yield Do(do.StartRecording(call.id, f"{root}/{name}"))):
        log.warning("call %s: the PBX did not start recording %s", call.id, name)
        yield from ctx.note(call, "call.recording", "failed", state="failed", file=name)
        return
    call.recording, call.recording_ms = name, ctx.now()
    yield Save(call)
    yield from ctx.note(
        call,
        "call.recording",
        "start",
        state="started",
        file=name,
        service=call.service,
        format="wav",
    )


def ended(ctx: FlowContext, call: Call) -> Flow:
    """The recorded call ended: the file is complete."""
    if not call.recording:
        return
    yield from ctx.note(
        call,
        "call.recording",
        "end",
        state="ended",
        file=call.recording,
        duration_s=ctx.seconds_since(call.recording_ms),
    )
