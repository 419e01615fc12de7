"""Cross-checks of the admin YAML that hold for either PBX kind.

Each check takes the `Draft` (valid items with their indexes) and returns problems with
YAML paths. PBX-specific checks live in `pbxchecks`.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from admin_config import control_checks, names, patterns, skills
from admin_config.model import (
    Agent,
    EntryPoint,
    InterPbxTrunk,
    OutboundTrunk,
)
from admin_config.problems import Problem, error, warning

if TYPE_CHECKING:
    from admin_config.validate import Draft

Check = Callable[["Draft"], list[Problem]]


def known_list(ids: Iterable[str]) -> str:
    return ", ".join(sorted(ids)) or "none defined"


def run(draft: Draft) -> list[Problem]:
    problems: list[Problem] = []
    for check in CHECKS:
        problems += check(draft)
    return problems


def duplicate_ids(draft: Draft) -> list[Problem]:
    out = []
    for section in ("pbxs", "services", "entry_points", "agents", "trunks", "supervisors"):
        first: dict[str, int] = {}
        for i, item in draft.each(section):
            if item.id in first:
                out.append(
                    error(
                        (section, i, "id"),
                        f"duplicate id {item.id!r} (also {section}[{first[item.id]}])",
                    )
                )
            else:
                first[item.id] = i
    return out


def _unknown(draft: Draft, section: str, value: str, what: str) -> str | None:
    if value in draft.known[section]:
        return None
    return f"unknown {what} {value!r} (known: {known_list(draft.known[section])})"


def entry_points(draft: Draft) -> list[Problem]:
    out = []
    pbxs = draft.by_id("pbxs")
    entries = draft.each("entry_points")
    for i, e in entries:
        if msg := _unknown(draft, "pbxs", e.pbx, "PBX"):
            out.append(error(("entry_points", i, "pbx"), msg))
        if msg := _unknown(draft, "services", e.service, "service"):
            out.append(error(("entry_points", i, "service"), msg))
        if e.id in names.RESERVED_EXTENSIONS:
            out.append(
                error(
                    ("entry_points", i, "id"),
                    f"{e.id!r} is a special Asterisk extension name; choose another id",
                )
            )
        for j, other in entries:
            if j >= i or other.pbx != e.pbx:
                continue
            if patterns.overlaps(other.extension, e.extension):
                same = "duplicate extension" if other.extension == e.extension else "extension"
                out.append(
                    error(
                        ("entry_points", i, "extension"),
                        f"{same} {e.extension!r} on PBX {e.pbx!r} is also matched by "
                        f"entry_points[{j}] ({other.id}, {other.extension!r})",
                    )
                )
        out += _overflow(draft, i, e, pbxs)
    out += _overflow_cycles(draft)
    return out


def _overflow(draft: Draft, i: int, e: EntryPoint, pbxs: dict[str, Any]) -> list[Problem]:
    o = e.overflow
    loc = ("entry_points", i, "overflow", "entry_point")
    if o.type != "entry_point" or o.entry_point is None:
        return []
    if o.entry_point == e.id:
        return [error(loc, "an entry point cannot overflow to itself")]
    targets = draft.by_id("entry_points")
    if o.entry_point not in targets:
        if msg := _unknown(draft, "entry_points", o.entry_point, "entry point"):
            return [error(loc, msg)]
        return []
    target = targets[o.entry_point]
    out = []
    if names.is_pattern(target.extension):
        out.append(
            error(
                loc,
                f"entry point {target.id!r} has the pattern {target.extension!r}; an overflow "
                "target needs a literal extension to dial",
            )
        )
    if target.pbx != e.pbx and e.pbx in pbxs and target.pbx in pbxs:
        linked = any(
            set(t.pbxs) == {e.pbx, target.pbx}
            for _, t in draft.each("trunks")
            if isinstance(t, InterPbxTrunk)
        )
        if not linked:
            out.append(
                error(
                    loc,
                    f"entry point {target.id!r} is on PBX {target.pbx!r}; add an inter_pbx "
                    f"trunk between {e.pbx} and {target.pbx} to overflow there",
                )
            )
    return out


def _overflow_cycles(draft: Draft) -> list[Problem]:
    nxt = {
        e.id: e.overflow.entry_point
        for _, e in draft.each("entry_points")
        if e.overflow.type == "entry_point"
    }
    index = {e.id: i for i, e in draft.each("entry_points")}
    out = []
    reported: set[str] = set()
    for start in nxt:
        path = [start]
        cur = nxt.get(start)
        while cur is not None and cur not in path:
            path.append(cur)
            cur = nxt.get(cur)
        if cur is not None and cur == start and start not in reported:
            reported.update(path)
            loop = " -> ".join([*path, start])
            out.append(
                error(
                    ("entry_points", index[start], "overflow", "entry_point"),
                    f"overflow loop {loop}: a caller would wait forever; end one of them in "
                    "voicemail, an extension or hangup",
                )
            )
    return out


def agents(draft: Draft) -> list[Problem]:
    out = []
    seen_endpoint: dict[tuple[str, str], int] = {}
    for i, a in draft.each("agents"):
        out += _agent(draft, i, a)
        if a.pbx and a.endpoint:
            key = (a.pbx, a.endpoint)
            if key in seen_endpoint:
                out.append(
                    error(
                        ("agents", i, "endpoint"),
                        f"endpoint {a.endpoint!r} on PBX {a.pbx!r} is already agents"
                        f"[{seen_endpoint[key]}]'s; each agent needs their own phone",
                    )
                )
            else:
                seen_endpoint[key] = i
    return out


def _agent(draft: Draft, i: int, a: Agent) -> list[Problem]:
    out = []
    loc = ("agents", i)
    if a.pbx is not None and (msg := _unknown(draft, "pbxs", a.pbx, "PBX")):
        out.append(error((*loc, "pbx"), msg))
    if a.takes_calls and not a.endpoint:
        out.append(
            error(
                (*loc, "endpoint"),
                f"agent {a.id!r} takes voice/VoIP (capacity) but has no SIP endpoint: set "
                "endpoint: <SIP user of their phone>, or capacity voice: 0 and voip: 0",
            )
        )
    if (a.endpoint or a.takes_calls) and not a.pbx:
        out.append(error((*loc, "pbx"), f"agent {a.id!r} has a phone but no home PBX: set pbx:"))
    if a.endpoint and not a.password_env and not a.contact and a.phone != "webrtc":
        out.append(
            error(
                (*loc, "password_env"),
                "a phone that registers needs a SIP password: set password_env: <VARIABLE> "
                "(or a static contact: for a phone that never registers)",
            )
        )
    if a.endpoint and a.endpoint.lower().startswith("implus-"):
        out.append(
            error((*loc, "endpoint"), "names starting with 'implus-' are reserved for trunks")
        )
    for skill in a.skills:
        if not names.matches(names.NAME, skill):
            out.append(error((*loc, "skills", skill), f"bad skill name: {names.NAME_HINT}"))
    return out


def trunks(draft: Draft) -> list[Problem]:
    out = []
    pbxs = draft.by_id("pbxs")
    defaults: dict[str, int] = {}
    pairs: dict[frozenset[str], int] = {}
    for i, t in draft.each("trunks"):
        loc = ("trunks", i)
        if isinstance(t, OutboundTrunk):
            if msg := _unknown(draft, "pbxs", t.pbx, "PBX"):
                out.append(error((*loc, "pbx"), msg))
            if t.registration and not (t.username and t.secret_env):
                out.append(error((*loc, "register"), "registering needs username and secret_env"))
            if t.default:
                if t.pbx in defaults:
                    out.append(
                        error(
                            (*loc, "default"),
                            f"PBX {t.pbx!r} already has default trunk trunks[{defaults[t.pbx]}]",
                        )
                    )
                defaults.setdefault(t.pbx, i)
            pbx = pbxs.get(t.pbx)
            if pbx is not None and pbx.kind == "asterisk" and not t.host:
                out.append(error((*loc, "host"), "an Asterisk trunk needs host: (the carrier)"))
            if pbx is not None and pbx.kind == "freeswitch" and not (t.host or t.gateway):
                out.append(
                    error((*loc, "host"), "a FreeSWITCH trunk needs host: or gateway: <name>")
                )
            if pbx is not None and pbx.kind == "asterisk" and t.gateway:
                out.append(error((*loc, "gateway"), "gateway: is for FreeSWITCH trunks only"))
        else:
            out += _inter_pbx(draft, i, t, pbxs, pairs)
    return out


def _inter_pbx(
    draft: Draft,
    i: int,
    t: InterPbxTrunk,
    pbxs: dict[str, Any],
    pairs: dict[frozenset[str], int],
) -> list[Problem]:
    out = []
    loc = ("trunks", i, "pbxs")
    a, b = t.pbxs
    if a == b:
        return [error(loc, "an inter_pbx trunk links two different PBXs")]
    for j, p in enumerate(t.pbxs):
        if msg := _unknown(draft, "pbxs", p, "PBX"):
            out.append(error((*loc, j), msg))
        elif p in pbxs and not pbxs[p].sip_host:
            index = next(k for k, x in draft.each("pbxs") if x.id == p)
            out.append(
                error(
                    ("pbxs", index, "sip_host"),
                    f"PBX {p!r} is linked by trunk {t.id!r}: set sip_host: <its SIP IP address>",
                )
            )
        elif p in pbxs and not names.matches(names.IPV4, pbxs[p].sip_host):
            index = next(k for k, x in draft.each("pbxs") if x.id == p)
            out.append(
                error(
                    ("pbxs", index, "sip_host"),
                    "inter-PBX trunks identify the other PBX by its address: use an IPv4 "
                    "address, not a name",
                )
            )
    pair = frozenset(t.pbxs)
    if pair in pairs:
        out.append(error(loc, f"{a} and {b} are already linked by trunks[{pairs[pair]}]"))
    pairs.setdefault(pair, i)
    return out


def services(draft: Draft) -> list[Problem]:
    out = []
    trunk_ids = draft.by_id("trunks")
    for i, s in draft.each("services"):
        if s.outbound_trunk is None:
            continue
        loc = ("services", i, "outbound_trunk")
        if msg := _unknown(draft, "trunks", s.outbound_trunk, "trunk"):
            out.append(error(loc, msg))
        elif isinstance(trunk_ids.get(s.outbound_trunk), InterPbxTrunk):
            out.append(error(loc, f"{s.outbound_trunk!r} is an inter_pbx trunk, not outbound"))
    return out


def unanswerable_entry_points(draft: Draft) -> list[Problem]:
    """Warn when no agent could ever answer an entry point's calls."""
    pbxs_with_phones = {a.pbx for _, a in draft.each("agents") if a.pbx and a.endpoint}
    linked: dict[str, set[str]] = {}
    for _, t in draft.each("trunks"):
        if isinstance(t, InterPbxTrunk):
            linked.setdefault(t.pbxs[0], set()).add(t.pbxs[1])
            linked.setdefault(t.pbxs[1], set()).add(t.pbxs[0])
    out = []
    for i, e in draft.each("entry_points"):
        reach = {e.pbx} | linked.get(e.pbx, set())
        if not reach & pbxs_with_phones:
            out.append(
                warning(
                    ("entry_points", i, "pbx"),
                    f"no agent phone on {e.pbx} or a PBX linked to it: calls to {e.extension} "
                    "can only overflow",
                )
            )
    return out


def secrets_set(draft: Draft) -> list[Problem]:
    """Warn about secret variables not set here (render, apply and the bridges need them)."""
    out = []
    refs: list[tuple[tuple[str | int, ...], str | None]] = []
    refs += [(("pbxs", i, "secret_env"), p.secret_env) for i, p in draft.each("pbxs")]
    refs += [(("agents", i, "password_env"), a.password_env) for i, a in draft.each("agents")]
    refs += [
        (("pbxs", i, "webrtc", "relay_secret_env"), p.webrtc.relay_secret_env)
        for i, p in draft.each("pbxs")
        if p.webrtc is not None
    ]
    refs += [
        (("trunks", i, "secret_env"), t.secret_env)
        for i, t in draft.each("trunks")
        if isinstance(t, OutboundTrunk)
    ]
    for loc, var in refs:
        if var and var not in os.environ:
            out.append(warning(loc, f"{var} is not set in this environment"))
    return out


def _router_loader() -> tuple[Callable[[Path], Any], type[Exception]] | None:
    """The router core's strategy loader and its StrategyError, once the router provides
    them (router/strategy.py); None before that."""
    try:
        module = importlib.import_module("router.strategy")
        errors = importlib.import_module("router.errors")
    except ModuleNotFoundError as e:
        if e.name in ("router.strategy", "router.errors"):
            return None
        raise  # the router is there but broken: say so, do not silently check less
    loader = getattr(module, "load_strategy_file", None)
    error_type = getattr(errors, "StrategyError", None)
    if not callable(loader) or not isinstance(error_type, type):
        return None
    return loader, error_type


def strategy_file(draft: Draft) -> list[Problem]:
    """The strategy file exists and passes the router's own loader.

    With the router core's `router.strategy.load_strategy_file`, every problem it finds
    (naming the rule and field) is reported under `strategy`; without it (the router core
    not installed) the file must at least exist and be a YAML mapping.
    """
    strategy = draft.top.get("strategy")
    if not strategy:
        return []
    loc = ("strategy",)
    if draft.source is None:
        return [warning(loc, "not checked: the config was not read from a file")]
    base = draft.source.parent
    path = base / strategy
    if not path.is_file():
        return [error(loc, f"strategy file not found: {path} (the path is relative to {base})")]
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        return [error(loc, f"strategy file {path} cannot be read as YAML: {e}")]
    if not isinstance(data, dict):
        return [error(loc, f"strategy file {path} must be a YAML mapping (rules:, queues:)")]
    router = _router_loader()
    if router is None:
        return []
    loader, strategy_error = router
    try:
        loader(path)
    except strategy_error as e:
        found = getattr(e, "problems", None) or [str(e)]
        return [error(loc, str(problem)) for problem in found]
    return []


def webrtc(draft: Draft) -> list[Problem]:
    """VoIP entry points and softphones need a PBX with a webrtc: block (admin_config.webrtc)."""
    from admin_config import webrtc as w

    return w.problems(draft.by_id("pbxs"), draft.each("entry_points"), draft.each("agents"))


CHECKS: tuple[Check, ...] = (
    duplicate_ids,
    webrtc,
    entry_points,
    agents,
    trunks,
    services,
    unanswerable_entry_points,
    secrets_set,
    strategy_file,
    skills.skill_usage,
    control_checks.supervisors,
    control_checks.recordings_dirs,
)
