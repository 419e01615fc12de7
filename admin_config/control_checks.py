"""Cross-checks of the admin YAML for call control: supervisors' phones, recording folders."""

from __future__ import annotations

from typing import TYPE_CHECKING

from admin_config.problems import Problem, error
from admin_config.recording import check_recordings_dir

if TYPE_CHECKING:
    from admin_config.validate import Draft


def supervisors(draft: Draft) -> list[Problem]:
    """A supervisor's phone is on a known PBX, can register (or has a static contact), and
    is nobody else's phone."""
    out = []
    phones = {(a.pbx, a.endpoint): f"agents[{i}]" for i, a in draft.each("agents") if a.endpoint}
    for i, s in draft.each("supervisors"):
        loc = ("supervisors", i)
        if s.pbx not in draft.known["pbxs"]:
            known = ", ".join(sorted(draft.known["pbxs"])) or "none defined"
            out.append(error((*loc, "pbx"), f"unknown PBX {s.pbx!r} (known: {known})"))
        if not s.password_env and not s.contact:
            out.append(
                error(
                    (*loc, "password_env"),
                    "a phone that registers needs a SIP password: set password_env: <VARIABLE> "
                    "(or a static contact: for a phone that never registers)",
                )
            )
        if s.endpoint.lower().startswith("implus-"):
            out.append(
                error((*loc, "endpoint"), "names starting with 'implus-' are reserved for trunks")
            )
        owner = phones.get((s.pbx, s.endpoint))
        if owner is not None:
            out.append(
                error(
                    (*loc, "endpoint"),
                    f"endpoint {s.endpoint!r} on PBX {s.pbx!r} is already {owner}'s; a "
                    "supervisor needs a phone of their own",
                )
            )
        phones.setdefault((s.pbx, s.endpoint), f"supervisors[{i}]")
    return out


def recordings_dirs(draft: Draft) -> list[Problem]:
    out = []
    for i, p in draft.each("pbxs"):
        if p.recordings_dir and (msg := check_recordings_dir(p.recordings_dir)):
            out.append(error(("pbxs", i, "recordings_dir"), msg))
    return out
