"""Recorded events as templates: the header lists FreeSWITCH 1.11.1 really sent.

Every channel event the fake switch fires starts from an event of a transcript (03, 04 or 05)
- same header names, same order, same values; rendering.py changes only what identifies
this call. `RECORDINGS` says who is who in each transcript, `template(key, index)` is one of
its events.

Events no recording contains (e.g. CHANNEL_HANGUP of an originated leg that never answered)
are *derived* from the closest recorded event of the same leg, and say so (`derived=True`):
`strip_other_leg`, `retitle`, `cut_variables_from`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache
from urllib.parse import unquote

from .transcripts import load

RECORDED_CORE_UUID = "3977591d-08a1-44e5-b587-69e848f33b08"
RECORDED_PROFILE = "loopback5080"
RECORDED_CALLER = "sipp"  # number, name and SIP user of the sipp customer in 03/04


@dataclass(frozen=True)
class Recording:
    """Who is who in one transcript."""

    transcript: str
    caller_uuid: str | None = None
    caller_host: str | None = None
    destination: str | None = None
    entry_variables: tuple[str, ...] = ()
    agent_uuid: str | None = None
    agent_user: str | None = None
    agent_host: str | None = None
    originate_variables: tuple[str, ...] = ()


RECORDINGS = {
    "03": Recording(
        "03-inbound-call-park-hangup",
        caller_uuid="931cc51a-8e99-4df5-bd9b-7726f0739a03",
        caller_host="127.0.0.1:5093",
        destination="800",
        entry_variables=("service",),
    ),
    "04": Recording(
        "04-agent-first-bridge",
        caller_uuid="eab7fd99-1ef6-444d-b9a6-36a809fb8f67",
        caller_host="127.0.0.1:5095",
        destination="800",
        entry_variables=("service",),
        agent_uuid="1c3ff21a-e550-42eb-b4d7-5a9496c6480a",
        agent_user="agent1001",
        agent_host="127.0.0.1:5094",
        originate_variables=("origination_uuid", "implus_role", "originate_timeout"),
    ),
    "05": Recording(
        "05-originate-no-answer",
        agent_uuid="9484ff4c-5b69-41ae-8790-adc4bb8efbae",
        agent_user="agent1002",
        agent_host="127.0.0.1:5099",
        originate_variables=("originate_timeout",),
    ),
}


@dataclass(frozen=True)
class Template:
    """A recorded event (decoded headers in order), and where it came from."""

    recording: str
    index: int
    headers: tuple[tuple[str, str], ...]
    body: str | None = None
    derived: bool = False

    @property
    def name(self) -> str:
        return dict(self.headers)["Event-Name"]

    def get(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k == name), None)


def _decode_plain(payload: bytes) -> tuple[tuple[tuple[str, str], ...], str | None]:
    head, _, rest = payload.partition(b"\n\n")
    headers = tuple(
        (name, unquote(value))
        for name, _, value in (line.partition(": ") for line in head.decode().split("\n") if line)
    )
    return headers, (rest.decode() if rest else None)


@cache
def recorded(key: str) -> dict[int, Template]:
    """The plain events of recording `key` ("03", "04", "05") by message index."""
    raw = load(RECORDINGS[key].transcript).received
    found: dict[int, Template] = {}
    pos = index = 0
    while pos < len(raw):
        end = raw.index(b"\n\n", pos)
        envelope = dict(line.split(": ", 1) for line in raw[pos:end].decode().split("\n"))
        length = int(envelope.get("Content-Length", 0))
        payload = raw[end + 2 : end + 2 + length]
        pos = end + 2 + length
        if envelope["Content-Type"] == "text/event-plain":
            headers, body = _decode_plain(payload)
            found[index] = Template(key, index, headers, body)
        index += 1
    return found


def template(key: str, index: int) -> Template:
    """Message `index` of recording `key` (it must be a plain event)."""
    return recorded(key)[index]


# -- derivations for events no transcript has ----------------------------------------------


def strip_other_leg(base: Template) -> Template:
    """The same event for a leg that is not bridged: no Other-Type / Other-Leg-* headers, no
    header that names the recorded peer (bridge variables, transfer history), and its own
    UUID as its call UUID."""
    rec = RECORDINGS[base.recording]
    own = base.get("Unique-ID") or ""
    if own == rec.caller_uuid:
        peer = [t for t in (rec.agent_uuid, rec.agent_user, rec.agent_host) if t]
    else:
        peer = [t for t in (rec.caller_uuid, rec.caller_host) if t]
    headers = []
    for name, value in base.headers:
        if name.startswith(("Other-Type", "Other-Leg-")):
            continue
        if any(token in value for token in peer):
            if name not in ("Channel-Call-UUID", "variable_call_uuid"):
                continue
            value = own
        headers.append((name, value))
    return replace(base, headers=tuple(headers), derived=True)


def retitle(
    base: Template,
    name: str | None = None,
    function: str | None = None,
    line: int | None = None,
    **states: str,
) -> Template:
    """`base` with another Event-Name / calling function / header values (`Channel_State=`
    sets Channel-State)."""
    overrides = {k.replace("_", "-"): v for k, v in states.items()}
    if name is not None:
        overrides["Event-Name"] = name
    if function is not None:
        overrides["Event-Calling-Function"] = function
    if line is not None:
        overrides["Event-Calling-Line-Number"] = str(line)
    headers = tuple((k, overrides.get(k, v)) for k, v in base.headers)
    return replace(base, headers=headers, derived=True)


def cut_variables_from(base: Template, first: str) -> Template:
    """`base` without variable `first` and every header after it (the CDR variables that
    FreeSWITCH only adds when the channel reports)."""
    names = [k for k, _ in base.headers]
    if first not in names:
        return base
    return replace(base, headers=base.headers[: names.index(first)], derived=True)
