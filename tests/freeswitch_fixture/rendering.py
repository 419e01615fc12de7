"""Rendering a recorded event (a Template) for this switch's live legs.

Only what identifies this call is changed: UUIDs, numbers and names, the SIP addresses of the
caller and the agent phone, the channel variables set by the entry dialplan or passed to
`originate`, times, hangup causes; and the switch's own identity, clock and event sequence.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

from .events import EventFactory, FsEvent
from .templates import RECORDED_CALLER, RECORDED_PROFILE, RECORDINGS, Recording, Template


@dataclass
class LegView:
    """What the renderer needs to know about one live leg."""

    uuid: str
    number: str
    name: str
    host: str
    profile: str
    destination: str = ""
    variables: list[tuple[str, str]] = field(default_factory=list)
    times: dict[str, int] = field(default_factory=dict)
    cause: str | None = None


CAUSES: dict[str, tuple[str, str | None, str | None, str]] = {
    # cause: (Q.850 code, SIP status, SIP phrase, sip_hangup_disposition)
    "NORMAL_CLEARING": ("16", "200", None, "recv_bye"),
    "NORMAL_TEMPORARY_FAILURE": ("41", "503", "Service Unavailable", "recv_refuse"),
    "USER_BUSY": ("17", "486", "Busy Here", "recv_refuse"),
    "NO_ANSWER": ("19", "487", "Request Terminated", "send_cancel"),
    "CALL_REJECTED": ("21", "603", "Decline", "recv_refuse"),
    "ORIGINATOR_CANCEL": ("487", "487", "Request Terminated", "send_cancel"),
    "NO_USER_RESPONSE": ("18", "408", "Request Timeout", "recv_refuse"),
}

_TIME_KEYS = {
    "Profile-Created-Time": "created",
    "Channel-Created-Time": "created",
    "Channel-Answered-Time": "answered",
    "Channel-Progress-Time": "progress",
    "Channel-Progress-Media-Time": "progress_media",
    "Channel-Hangup-Time": "hangup",
    "Channel-Bridged-Time": "bridged",
}
_VARIABLE_TIME_KEYS = {
    "start": "created",
    "profile_start": "created",
    "answer": "answered",
    "progress": "progress",
    "progress_media": "progress_media",
    "bridge": "bridged",
    "end": "hangup",
}
_VARIABLE_TIME = re.compile(r"variable_(\w+?)_(uepoch|epoch|stamp)")
_DURATIONS = re.compile(
    r"variable_(duration|billsec|progresssec|answersec|waitsec|progress_mediasec|flow_billsec|"
    r"mduration|billmsec|progressmsec|answermsec|waitmsec|progress_mediamsec|flow_billmsec|"
    r"uduration|billusec|progressusec|answerusec|waitusec|progress_mediausec|flow_billusec)"
)
_DESTINATION_HEADERS = {
    "Caller-Destination-Number",
    "Other-Leg-Destination-Number",
    "variable_sip_to_display",
    "variable_sip_full_to",
    "variable_sip_req_user",
    "variable_sip_req_uri",
    "variable_sip_to_user",
    "variable_sip_to_uri",
}
_NAME_HEADERS = {
    "Caller-Caller-ID-Name",
    "Caller-Orig-Caller-ID-Name",
    "Other-Leg-Caller-ID-Name",
    "Other-Leg-Orig-Caller-ID-Name",
    "variable_sip_from_display",
    "variable_last_sent_callee_id_name",
}


def _stamp(us: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(us / 1_000_000))


def _duration(name: str, times: dict[str, int]) -> str | None:
    start, end = times.get("created"), times.get("hangup")
    if start is None or end is None:
        return None
    base = name.removeprefix("variable_")
    unit = 1_000_000
    for prefix, scale in (("m", 1000), ("u", 1)):
        if base.startswith(prefix + "duration"):
            base, unit = "duration", scale
    for suffix, scale in (("msec", 1000), ("usec", 1), ("sec", 1_000_000)):
        if base.endswith(suffix):
            base, unit = base[: -len(suffix)], scale
            break
    mark = {
        "duration": end,
        "bill": end,
        "flow_bill": end,
        "progress": times.get("progress"),
        "answer": times.get("answered"),
        "wait": times.get("answered"),
        "progress_media": times.get("progress_media"),
    }.get(base)
    origin = times.get("answered") if base in ("bill", "flow_bill") else start
    if mark is None or origin is None:
        return "0"
    return str(max(0, mark - origin) // unit)


@dataclass
class _Call:
    """One render: the template's recording, the live legs, and what differs per event."""

    rec: Recording
    leg: LegView | None
    other: LegView | None
    caller: LegView | None
    recorded_cause: str | None
    tokens: dict[str, str]
    pattern: re.Pattern[str] | None
    job_arg: str | None
    application_data: str | None
    cause_of: LegView | None


class Renderer:
    """Turns a Template into an event for live legs, with this switch's identity and clock."""

    def __init__(self, factory: EventFactory) -> None:
        self.factory = factory

    def render(
        self,
        tpl: Template,
        *,
        caller: LegView | None,
        agent: LegView | None,
        entry_set: int | None = None,
        job_arg: str | None = None,
        application_data: str | None = None,
        cause_of: LegView | None = None,
    ) -> FsEvent:
        """The event `tpl` for these legs.

        `entry_set`: how many of the caller's entry variables are set at this point (None:
        all of them). `cause_of`: the leg whose hangup cause this event reports.
        """
        rec = RECORDINGS[tpl.recording]
        leg = agent if tpl.get("Unique-ID") == rec.agent_uuid and agent else caller or agent
        tokens = _tokens(rec, caller, agent)
        pattern = (
            re.compile(
                r"(?<![A-Za-z0-9])("
                + "|".join(re.escape(t) for t in sorted(tokens, key=len, reverse=True))
                + r")(?![A-Za-z0-9])"
            )
            if tokens
            else None
        )
        call = _Call(
            rec=rec,
            leg=leg,
            other=agent if leg is caller else caller,
            caller=caller,
            recorded_cause=tpl.get("Hangup-Cause"),
            tokens=tokens,
            pattern=pattern,
            job_arg=job_arg,
            application_data=application_data,
            cause_of=cause_of,
        )
        fixed = {
            **self.factory.dates(),
            "Core-UUID": self.factory.core_uuid,
            "FreeSWITCH-Hostname": self.factory.hostname,
            "FreeSWITCH-Switchname": self.factory.hostname,
            "FreeSWITCH-IPv4": self.factory.ipv4,
            "FreeSWITCH-IPv6": self.factory.ipv6,
        }
        headers: list[tuple[str, str]] = []
        replaced: set[str] = set()
        for name, value in tpl.headers:
            if name == "Event-Sequence":
                headers.append((name, str(self.factory.next_sequence())))
            elif name in fixed:
                headers.append((name, fixed[name]))
            elif (block := _variable_block(rec, name, caller, agent, entry_set)) is not None:
                kind, variables = block
                if kind not in replaced:
                    headers.extend(variables)
                    replaced.add(kind)
            else:
                headers.append((name, _value(name, value, call)))
        if entry_set and caller is not None and "entry" not in replaced:
            # CHANNEL_EXECUTE of the k-th `set`: the variables set before it are already there.
            names = [k for k, _ in headers]
            if "variable_call_uuid" in names:
                at = names.index("variable_call_uuid") + 1
                headers[at:at] = [(f"variable_{k}", v) for k, v in caller.variables[:entry_set]]
        return FsEvent(tpl.name, tuple(headers), tpl.body)


def _tokens(rec: Recording, caller: LegView | None, agent: LegView | None) -> dict[str, str]:
    """Recorded identifiers and their live replacements."""
    tokens: dict[str, str] = {}
    if caller is not None:
        if rec.caller_uuid:
            tokens[rec.caller_uuid] = caller.uuid
        if rec.caller_host:
            tokens[rec.caller_host] = caller.host
            # the SIP port alone, as in variable_sip_from_port / _network_port / _received_port
            tokens[rec.caller_host.rpartition(":")[2]] = caller.host.rpartition(":")[2]
        tokens[RECORDED_CALLER] = caller.number
        tokens[RECORDED_PROFILE] = caller.profile
    if agent is not None:
        if rec.agent_uuid:
            tokens[rec.agent_uuid] = agent.uuid
        if rec.agent_user:
            tokens[rec.agent_user] = agent.number
        if rec.agent_host:
            tokens[rec.agent_host] = agent.host
        tokens[RECORDED_PROFILE] = agent.profile
    return tokens


def _variable_block(
    rec: Recording,
    name: str,
    caller: LegView | None,
    agent: LegView | None,
    entry_set: int | None,
) -> tuple[str, list[tuple[str, str]]] | None:
    """Where the recording has the entry dialplan's or the originate's variables, the live
    ones (the entry ones set so far)."""
    if not name.startswith("variable_"):
        return None
    variable = name.removeprefix("variable_")
    if caller is not None and variable in rec.entry_variables:
        count = len(caller.variables) if entry_set is None else entry_set
        return "entry", [(f"variable_{k}", v) for k, v in caller.variables[:count]]
    if agent is not None and variable in rec.originate_variables:
        return "originate", [(f"variable_{k}", v) for k, v in agent.variables]
    return None


def _value(name: str, value: str, call: _Call) -> str:
    leg, other = call.leg, call.other
    if name == "Job-Command-Arg" and call.job_arg is not None:
        return call.job_arg
    if name in ("Application-Data", "variable_current_application_data") and call.application_data:
        return call.application_data
    if name.startswith(("Caller-", "Other-Leg-")) and name.endswith("-Time"):
        source, suffix = (leg, name[7:]) if name.startswith("Caller-") else (other, name[10:])
        key = _TIME_KEYS.get(suffix)
        if key is None or value == "0" or source is None:
            return value
        return str(source.times.get(key, 0))
    match = _VARIABLE_TIME.fullmatch(name)
    if match and match.group(1) in _VARIABLE_TIME_KEYS and leg is not None:
        us = leg.times.get(_VARIABLE_TIME_KEYS[match.group(1)])
        if value == "0" or us is None:
            return "0"
        return {"uepoch": str(us), "epoch": str(us // 1_000_000)}.get(match.group(2)) or _stamp(us)
    if name == "variable_sip_invite_stamp" and leg is not None and "created" in leg.times:
        return str(leg.times["created"])
    if _DURATIONS.fullmatch(name) and leg is not None:
        return _duration(name, leg.times) or value
    if call.cause_of is not None and call.cause_of.cause != call.recorded_cause:
        caused = _cause_value(name, value, call.cause_of)
        if caused is not None:
            return caused
    if name in _NAME_HEADERS and value == RECORDED_CALLER and call.caller is not None:
        return call.caller.name
    if name in _DESTINATION_HEADERS and call.rec.destination:
        target = leg if name.startswith(("Caller-", "variable_")) else other
        if target is not None and target.destination:
            recorded_destination = rf"(?<![0-9]){re.escape(call.rec.destination)}(?![0-9])"
            value = re.sub(recorded_destination, target.destination, value)
    if call.pattern is not None:
        value = call.pattern.sub(lambda m: call.tokens[m.group(1)], value)
    return value


def _cause_value(name: str, value: str, leg: LegView | None) -> str | None:
    if leg is None or leg.cause is None:
        return None
    q850, status, phrase, disposition = CAUSES.get(leg.cause, ("0", None, None, "recv_bye"))
    return {
        "Hangup-Cause": leg.cause,
        "variable_hangup_cause": leg.cause,
        "variable_hangup_cause_q850": q850,
        "variable_sip_term_cause": q850,
        "variable_sip_term_status": status or value,
        "variable_proto_specific_hangup_cause": f"sip:{status}" if status else value,
        "variable_sip_invite_failure_status": status or value,
        "variable_sip_invite_failure_phrase": phrase or value,
        "variable_sip_hangup_disposition": disposition,
    }.get(name)
