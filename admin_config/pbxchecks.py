"""Checks for what would break on one PBX kind even though the YAML itself is valid."""

from __future__ import annotations

from typing import TYPE_CHECKING

from admin_config import names, patterns
from admin_config.model import InterPbxTrunk, OutboundTrunk
from admin_config.problems import Problem, error

if TYPE_CHECKING:
    from admin_config.validate import Draft

#: Asterisk's AST_MAX_EXTENSION (80, including the terminating NUL).
ASTERISK_MAX_EXTENSION = 79


#: What hold music looks like on each PBX kind, and what to say when it does not.
_MUSIC = {
    "asterisk": (
        names.MOH_CLASS,
        "is not an Asterisk musiconhold class name (letters, digits, '_', '-')",
    ),
    "freeswitch": (
        names.FS_MUSIC,
        "FreeSWITCH hold music is a playable source such as local_stream://moh or "
        "$${hold_music} (no spaces or commas; a global variable $${name} only at the start, "
        "never ${...}, which FreeSWITCH would expand when the call runs)",
    ),
}


def run(draft: Draft) -> list[Problem]:
    kinds = {p.id: p.kind for _, p in draft.each("pbxs")}
    return music(draft, kinds) + asterisk(draft, kinds) + freeswitch(draft, kinds)


def music(draft: Draft, kinds: dict[str, str]) -> list[Problem]:
    out = []
    for i, e in draft.each("entry_points"):
        kind = kinds.get(e.pbx)
        if e.music_class is None or kind not in _MUSIC:
            continue
        pattern, hint = _MUSIC[kind]
        if not names.matches(pattern, e.music_class):
            out.append(error(("entry_points", i, "music_class"), f"{e.music_class!r}: {hint}"))
    return out


def _linked(draft: Draft) -> set[str]:
    """PBX ids reachable over an inter-PBX trunk."""
    out: set[str] = set()
    for _, t in draft.each("trunks"):
        if isinstance(t, InterPbxTrunk):
            out.update(t.pbxs)
    return out


def asterisk(draft: Draft, kinds: dict[str, str]) -> list[Problem]:
    out = []
    linked = _linked(draft)
    for i, e in draft.each("entry_points"):
        if kinds.get(e.pbx) != "asterisk":
            continue
        loc = ("entry_points", i)
        if len(e.extension) > ASTERISK_MAX_EXTENSION:
            out.append(
                error((*loc, "extension"), f"longer than Asterisk's {ASTERISK_MAX_EXTENSION}")
            )
    seen: dict[tuple[str, str], tuple[int, str]] = {}
    for i, a in draft.each("agents"):
        if kinds.get(a.pbx or "") != "asterisk" or not a.endpoint:
            continue
        # Reached over an inter-PBX trunk, the endpoint is an extension name in
        # [implus-inter-pbx]; Asterisk ignores '-' when matching (verified: 'foo-bar'
        # answers both foo-bar and foobar), and phones often ignore case.
        key = (a.pbx or "", a.endpoint.replace("-", "").lower())
        if key in seen and seen[key][1] != a.endpoint:  # exact duplicates: checks.agents
            out.append(
                error(
                    ("agents", i, "endpoint"),
                    f"{a.endpoint!r} differs from agents[{seen[key][0]}]'s endpoint only in "
                    "'-' or case; Asterisk would confuse them (it ignores '-' in extensions)",
                )
            )
        seen.setdefault(key, (i, a.endpoint))
    out += _collisions(draft, kinds, "asterisk", linked)
    return out


def freeswitch(draft: Draft, kinds: dict[str, str]) -> list[Problem]:
    out = []
    pbxs = draft.by_id("pbxs")
    linked = _linked(draft)
    for i, e in draft.each("entry_points"):
        if kinds.get(e.pbx) != "freeswitch":
            continue
        loc = ("entry_points", i)
        pbx = pbxs.get(e.pbx)
        if pbx is not None and not pbx.inbound_contexts:
            out.append(
                error(
                    (*loc, "pbx"),
                    f"PBX {e.pbx!r} has no inbound_contexts, so no call can reach this entry point",
                )
            )
    for i, a in draft.each("agents"):
        softphone = a.phone == "webrtc"  # its password is derived from the relay secret
        if (
            kinds.get(a.pbx or "") == "freeswitch"
            and a.endpoint
            and not a.password_env
            and not softphone
        ):
            # A FreeSWITCH directory user without a password accepts any registration.
            out.append(
                error(
                    ("agents", i, "password_env"),
                    "a FreeSWITCH directory user needs a password: set password_env:",
                )
            )
    for i, t in draft.each("trunks"):
        if not isinstance(t, OutboundTrunk) or kinds.get(t.pbx) != "freeswitch":
            continue
        if t.gateway and t.gateway.startswith("implus-"):
            out.append(error(("trunks", i, "gateway"), "gateway names 'implus-...' are reserved"))
        if t.gateway and t.qualify:
            out.append(
                error(
                    ("trunks", i, "qualify"),
                    f"implus does not render gateway {t.gateway!r}: set `ping` on gateway "
                    f"{t.gateway!r} itself, or give host: instead of gateway:",
                )
            )
        if t.host and t.gateway:
            out.append(
                error(
                    ("trunks", i, "gateway"),
                    "give host: (implus renders the gateway) or gateway: (an existing one), "
                    "not both",
                )
            )
    out += _collisions(draft, kinds, "freeswitch", linked)
    return out


def _collisions(draft: Draft, kinds: dict[str, str], kind: str, linked: set[str]) -> list[Problem]:
    """Agent endpoints and entry extensions share one namespace in inter-PBX routing."""
    out = []
    for i, a in draft.each("agents"):
        if not a.endpoint or a.pbx not in linked or kinds.get(a.pbx or "") != kind:
            continue
        for j, e in draft.each("entry_points"):
            if e.pbx == a.pbx and patterns.matches(e.extension, a.endpoint):
                out.append(
                    error(
                        ("agents", i, "endpoint"),
                        f"{a.endpoint!r} is also entry_points[{j}]'s extension {e.extension!r} "
                        f"on {a.pbx}: calls over the inter-PBX trunk could not tell them apart",
                    )
                )
    return out
