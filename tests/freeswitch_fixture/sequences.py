"""Which recorded events each step of a call fires, by recording and message index.

An entry-point call is 03 (CHANNEL_STATE ... CHANNEL_PARK, one `set` per dialplan variable),
an answered originate and a bridge are 04, a failed originate is 05. Sequences no recording
holds are derived from the closest recorded events (templates.py says how).
"""

from __future__ import annotations

from dataclasses import replace

from .templates import Template, cut_variables_from, retitle, strip_other_leg, template

INBOUND_UNTIL_SET = [("03", i) for i in (3, 4, 5, 6, 7, 8)]
INBOUND_SET = (("03", 9), ("03", 10))
INBOUND_ANSWER_PARK = [("03", i) for i in (11, 12, 13, 14, 15, 16)]
PARKED_CALLER_HANGUP = [("03", i) for i in (17, 18, 19, 20, 21, 22, 23, 24, 25)]
ORIGINATE_RING = [("04", i) for i in (18, 19, 20, 21, 22, 23, 24)]
ORIGINATE_ANSWER = [("04", 25), ("04", 26)]
ORIGINATED_PARK = [("04", i) for i in (28, 29, 30)]
BRIDGE_A = [("04", i) for i in (33, 34, 35, 36, 37)]
BRIDGE_B = [("04", i) for i in (38, 39, 40, 41, 42)]
BRIDGE_BOTH = [("04", 43), ("04", 44), ("04", 45), ("04", 46)]
# The caller (A) hangs up a bridged call: recorded. `a`/`b` say whose event it is.
BRIDGED_HANGUP_BY_A = [
    ("a", 47), ("b", 48), ("b", 49), ("b", 50), ("b", 51), ("b", 52), ("a", 53),
    ("a", 54), ("a", 55), ("a", 56), ("a", 57), ("b", 58), ("a", 59), ("a", 60), ("b", 61),
]  # fmt: skip
# The agent (B) hangs up first: derived order, same events.
BRIDGED_HANGUP_BY_B = [
    ("b", 48), ("b", 49), ("b", 50), ("b", 51), ("b", 52), ("a", 53), ("a", 47),
    ("a", 54), ("a", 55), ("a", 56), ("a", 57), ("b", 58), ("a", 59), ("a", 60), ("b", 61),
]  # fmt: skip


def unbridged_outbound(base: Template) -> Template:
    """An originated leg's event from the bridged recording, as if never bridged."""
    stripped = strip_other_leg(base)
    # The bridge had given it the caller's id; before, it had the originate's default (05).
    headers = tuple((k, "0000000000" if v == "sipp" else v) for k, v in stripped.headers)
    return replace(stripped, headers=headers)


def _without_first(base: Template, name: str) -> Template:
    names = [k for k, _ in base.headers]
    at = names.index(name)
    return replace(base, headers=base.headers[:at] + base.headers[at + 1 :])


def outbound_hangup_sequence(call_state: str) -> list[Template]:
    """An originated leg that is not bridged hangs up, from `call_state` (DOWN or RINGING if
    it never answered, ACTIVE if it did). 05 recorded CHANNEL_CREATE and _HANGUP_COMPLETE of
    such a leg; the others are derived from it and from the same leg kind in 04."""
    complete = template("05", 5)
    hangup = retitle(
        _without_first(cut_variables_from(complete, "variable_digits_dialed"), "Hangup-Cause"),
        "CHANNEL_HANGUP",
        "switch_channel_perform_hangup",
        3447,
        Channel_State="CS_CONSUME_MEDIA",
        Channel_Call_State=call_state,
        Channel_State_Number="7",
    )
    state_hangup, callstate, reporting = (
        unbridged_outbound(template("04", i)) for i in (49, 50, 51)
    )
    state_hangup = retitle(state_hangup, Channel_Call_State=call_state)
    callstate = retitle(callstate, Original_Channel_Call_State=call_state)
    destroy = retitle(
        _without_first(complete, "Hangup-Cause"),
        "CHANNEL_DESTROY",
        "switch_core_session_perform_destroy",
        1588,
        Channel_State_Number="12",
    )
    final = unbridged_outbound(template("04", 61))
    return [hangup, state_hangup, callstate, reporting, complete, destroy, final]
