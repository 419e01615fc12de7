"""FreeSWITCH events in, call-flow facts out: the ESL bridge's translation layer (no I/O).

`facts_of(event, known)` returns the facts (`callflow.facts`, the same the AMI bridge
produces) one event tells. It runs at the call's turn (after the call's earlier events were
handled), so `known(uuid)` - is this channel a call the bridge holds? - is current.

The generated dialplan (docs/call-flow.md) tags an entry point's caller with `implus_*`
variables and parks it; the bridge tags the agent legs it originates with `implus_agent`.
A CHANNEL_PARK therefore tells a new caller (`CallerArrived`), a caller parked again
(`Parked`) and an agent leg that answered (`LegAnswered`) apart.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from callflow import facts as f
from callflow.facts import failure_reason

from .events import BackgroundJob, ChannelEvent, DialplanEvent, EslEvent

ORIGINATION_UUID = re.compile(r"origination_uuid=([^,}]+)")


def origination_uuid(command_arg: str | None) -> str | None:
    """The channel UUID an `originate` job chose (from BACKGROUND_JOB's Job-Command-Arg): a
    restarted bridge can match the result of a job its predecessor started."""
    match = ORIGINATION_UUID.search(command_arg or "")
    return match.group(1) if match else None


def _int(value: str | None) -> int:
    return int(value) if value and value.isdigit() else 0


_RAW_JOB = b'{"Event-Name":"BACKGROUND_JOB",'
_RAW_PLAIN_VALUE = re.compile(rb'([^"\\]*)"')


def _first_value(body: bytes, name: bytes) -> bytes | None:
    """The first value of header `name` in JSON text `body`, if it has no escapes."""
    at = body.find(b'"' + name + b'":"')
    value = _RAW_PLAIN_VALUE.match(body, at + len(name) + 4) if at >= 0 else None
    return value.group(1) if value else None


def job_tells_nothing(body: bytes, waited: Callable[[str], bool]) -> bool:
    """True for the JSON text of a BACKGROUND_JOB that no handle waits for (`waited(job
    uuid)`) and that tells no fact (`facts_of`: only an originate's does, when it failed or
    a supervisor answered), told from its raw bytes: it need not be decoded (the results
    of `uuid_broadcast`, `uuid_kill`, an agent's answered `originate`: 2 of a routed call's
    10 events). False when not sure: the event is then decoded as usual. In FreeSWITCH's
    JSON every quote inside a value is escaped, so these patterns only match headers."""
    if not body.startswith(_RAW_JOB):
        return False
    job = _first_value(body, b"Job-UUID")
    command = _first_value(body, b"Job-Command")
    if not job or command is None or waited(job.decode("utf-8", "replace")):
        return False
    if command != b"originate":
        return True
    return b'"_body":"+OK ' in body and b"implus_spy=" not in body


FACT_CHANNEL_EVENTS = frozenset({"CHANNEL_PARK", "CHANNEL_BRIDGE", "CHANNEL_HANGUP"})
"""The channel events that can tell a fact (the others feed presence only)."""


def may_tell(event: EslEvent) -> bool:
    """False when `event` tells no fact whatever calls the bridge holds: it need not wait
    for its call's turn at all (a CHANNEL_CREATE, the result of a uuid_bridge...)."""
    if isinstance(event, ChannelEvent):
        return event.name in FACT_CHANNEL_EVENTS
    if isinstance(event, BackgroundJob):  # its facts do not depend on the calls held
        return bool(facts_of(event, lambda _uid: False))
    return isinstance(event, DialplanEvent)


def facts_of(event: EslEvent, known: Callable[[str], bool]) -> list[f.Fact]:
    """The facts `event` tells; `known(uuid) -> bool` says whether the bridge holds a call
    with that channel."""
    if isinstance(event, ChannelEvent):
        return _channel(event, known)
    if isinstance(event, BackgroundJob):
        if event.command != "originate":
            return []
        if event.ok:
            # A supervisor's phone answered (an originate replies once its leg answered); it
            # eavesdrops and never parks, so this is the only sign of it.
            leg = origination_uuid(event.command_arg)
            spy = leg and "implus_spy=" in (event.command_arg or "")
            return [f.LegAnswered(leg)] if spy and leg else []
        # An originate that failed before any channel event could say so (e.g.
        # USER_NOT_REGISTERED creates no channel).
        leg = origination_uuid(event.command_arg)
        return [f.LegFailed(leg, failure_reason(event.result), event.result)] if leg else []
    if isinstance(event, DialplanEvent) and event.unique_id:
        if event.subclass == "implus::overflow":
            return [f.DialplanOverflow(event.unique_id, event.destination or "")]
        if event.subclass == "implus::outbound":
            return [f.LegRinging(event.unique_id, "", event.dial or "", event.trunk or "")]
    return []


def _channel(event: ChannelEvent, known: Callable[[str], bool]) -> list[f.Fact]:
    uid, name = event.unique_id, event.name
    if name == "CHANNEL_PARK":
        if event.variable("implus_entry"):
            if known(uid):
                return [f.Parked(uid)]
            v = event.variable
            return [
                f.CallerArrived(
                    call_id=uid,
                    service=v("implus_service") or "",
                    entry=v("implus_entry") or "",
                    user=v("implus_user") or "",
                    language=v("implus_language") or "",
                    exten=event.destination_number or "",
                    number=event.caller_id_number or "",
                    caller_name=event.caller_id_name or "",
                    max_wait=_int(v("implus_max_wait")),
                    hold_music=v("implus_hold_music") or "",
                    channel=event.channel_name or "",
                    media=v("implus_media") or "voice",
                )
            ]
        if event.variable("implus_agent") or event.variable("implus_consult"):
            return [f.LegAnswered(uid)]  # a leg the bridge placed answered (and parked)
        return []
    if name == "CHANNEL_BRIDGE":
        a, b = event.bridge_a_unique_id or uid, event.bridge_b_unique_id or ""
        return [f.Bridged(a, b), f.Bridged(b, a)] if b else [f.Bridged(a)]
    if name == "CHANNEL_HANGUP":
        # The channel's end, and - the first leg to hang up - who ended the call. FreeSWITCH
        # fires it once per channel as the channel enters CS_HANGUP, answered or not (an
        # originated leg that never answered too), with the cause CHANNEL_HANGUP_COMPLETE
        # repeats later; that bigger event is not subscribed (settings.BRIDGE_EVENTS).
        return [f.HangupRequested(uid), f.ChannelGone(uid, event.hangup_cause or "UNKNOWN")]
    return []
