"""Validate the admin YAML item by item, then cross-check, collecting every problem.

Each list item is validated on its own, so one bad agent does not hide the problems of
the others; cross-checks then run over the items that are valid, while the ids of the
invalid ones still count as known (a typo in one service does not also flag every entry
point that uses it as "unknown service").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydantic

from admin_config import checks, inert, names, pbxchecks, recording
from admin_config.model import (
    KIND_CHOICES,
    SECTIONS,
    AdminConfig,
    _model_for,
)
from admin_config.problems import Loc, Problem, error
from admin_config.yamlsource import parse_yaml

_HINTS = {
    names.NAME: names.NAME_HINT,
    names.SLUG: names.SLUG_HINT,
    names.ENDPOINT: names.ENDPOINT_HINT,
    names.ENV: names.ENV_HINT,
    names.LANGUAGE: names.LANGUAGE_HINT,
    names.CONTEXT: "letters, digits, '_', '.', '-'",
    names.HOST: "a host name or IPv4 address",
    names.LITERAL_EXTENSION: "digits/letters/'+*#' such as 1000",
    names.DIGITS: "digits, '*', '#', '+' (at most 20)",
    names.MAILBOX: "a mailbox number such as 1000",
    names.SIP_URI: "a SIP URI such as sip:127.0.0.1:5094",
    names.NETWORK: "a network such as 127.0.0.1/255.255.255.255",
    names.FS_DOMAIN: "a domain name, or a FreeSWITCH global variable such as $${domain}",
    f"({names.LITERAL_EXTENSION})|({names.PATTERN_EXTENSION})": names.EXTENSION_HINT,
    recording.PROMPT: recording.PROMPT_HINT,
    recording.RECORDINGS_DIR: "an absolute folder such as /var/spool/asterisk/monitor/implus",
}


@dataclass
class Draft:
    """The config as far as it validated: valid items by section, with their indexes."""

    top: dict[str, Any]
    items: dict[str, list[tuple[int, Any]]]
    known: dict[str, set[str]]
    """Ids found in the raw YAML per section, valid items or not."""
    source: Path | None

    def each(self, section: str) -> list[tuple[int, Any]]:
        return self.items.get(section, [])

    def by_id(self, section: str) -> dict[str, Any]:
        return {m.id: m for _, m in self.each(section)}


@dataclass
class ValidationResult:
    """Everything `check` reports; `config` is set only when there is no error."""

    config: AdminConfig | None
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]


def validate_file(path: str | Path) -> ValidationResult:
    """Validate the admin YAML file at `path` (see `validate_text`)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        reason = e.strerror or str(e)
        return ValidationResult(None, [error((), f"cannot read {p}: {reason}")])
    except UnicodeDecodeError as e:
        return ValidationResult(None, [error((), f"{p} is not UTF-8 text: {e.reason}")])
    return validate_text(text, source=p.absolute())


def validate_text(text: str, source: Path | None = None) -> ValidationResult:
    """Validate admin YAML text; the strategy path is resolved against `source`'s folder."""
    doc = parse_yaml(text)
    problems = list(doc.problems)
    if doc.data is None and problems:
        return ValidationResult(None, problems)
    data = doc.data if doc.data is not None else {}
    if not isinstance(data, dict):
        problems.append(error((), "the admin config must be a YAML mapping (pbxs:, services:...)"))
        return ValidationResult(None, problems)

    draft, item_problems = _validate_items(data, source)
    problems += item_problems
    problems += inert.directive_problems(data, SECTIONS)
    problems += checks.run(draft)
    problems += pbxchecks.run(draft)
    problems = _dedupe([p.located(doc.lines) for p in problems])
    problems.sort(key=lambda p: (p.file or "", p.line or 0, p.path))

    config = None
    if not any(p.severity == "error" for p in problems):
        fields: dict[str, Any] = dict(draft.top, source=source)
        fields.update({s: tuple(m for _, m in draft.each(s)) for s in SECTIONS})
        config = AdminConfig.model_validate(fields)
    return ValidationResult(config, problems)


def _validate_items(data: dict[str, Any], source: Path | None) -> tuple[Draft, list[Problem]]:
    problems: list[Problem] = []
    top_fields = set(AdminConfig.model_fields) - {"source", *SECTIONS}
    top = {k: v for k, v in data.items() if k in top_fields}
    for key in data:
        if key not in top_fields and key not in SECTIONS:
            allowed = ", ".join(sorted(top_fields | set(SECTIONS)))
            problems.append(error((str(key),), f"unknown key {key!r} (known: {allowed})"))
    try:
        AdminConfig.model_validate(top)
    except pydantic.ValidationError as e:
        problems += _from_pydantic(e, ())
        top = {k: v for k, v in top.items() if k not in _bad_keys(e)}
    if "strategy" not in top:
        top["strategy"] = ""  # reported above; keeps the draft buildable

    items: dict[str, list[tuple[int, Any]]] = {}
    known: dict[str, set[str]] = {}
    invalid: list[tuple[Loc, dict[str, Any]]] = []
    for section in SECTIONS:
        raw = data.get(section)
        items[section] = []
        known[section] = set()
        if raw is None:
            continue
        if not isinstance(raw, list):
            problems.append(error((section,), f"must be a list of {section.replace('_', ' ')}"))
            continue
        for i, item in enumerate(raw):
            loc: Loc = (section, i)
            if not isinstance(item, dict):
                problems.append(error(loc, "must be a mapping (key: value lines)"))
                continue
            if isinstance(item.get("id"), str | int):
                known[section].add(str(item["id"]))
            model = _model_for(section, item)
            if model is None:
                choices = ", ".join(KIND_CHOICES[section])
                problems.append(
                    error((*loc, "kind"), f"unknown kind {item.get('kind')!r} (use {choices})")
                )
                continue
            try:
                items[section].append((i, model.model_validate(item)))
            except pydantic.ValidationError as e:
                problems += _from_pydantic(e, loc)
                invalid.append((loc, item))
    problems += [p for loc, item in invalid for p in _raw_references(loc, item, known)]
    return Draft(top, items, known, source), problems


#: Reference fields checked even on items that failed validation (section -> field -> target).
_REFERENCES = {
    "entry_points": {"pbx": ("pbxs", "PBX"), "service": ("services", "service")},
    "agents": {"pbx": ("pbxs", "PBX")},
    "trunks": {"pbx": ("pbxs", "PBX")},
    "supervisors": {"pbx": ("pbxs", "PBX")},
}


def _raw_references(loc: Loc, item: dict[str, Any], known: dict[str, set[str]]) -> list[Problem]:
    out = []
    for key, (target, what) in _REFERENCES.get(str(loc[0]), {}).items():
        value = item.get(key)
        if isinstance(value, str) and value not in known[target]:
            others = checks.known_list(known[target])
            out.append(error((*loc, key), f"unknown {what} {value!r} (known: {others})"))
    return out


def _bad_keys(e: pydantic.ValidationError) -> set[str]:
    return {str(err["loc"][0]) for err in e.errors() if err["loc"]}


def _from_pydantic(e: pydantic.ValidationError, prefix: Loc) -> list[Problem]:
    out = []
    for err in e.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        out.append(error((*prefix, *loc), _message(err)))
    return out


def _message(err: Any) -> str:
    kind = err["type"]
    value = err.get("input")
    if kind == "missing":
        return "required"
    if kind == "extra_forbidden":
        return "unknown key (remove it or check its spelling; see docs/admin-config.md)"
    if kind == "string_pattern_mismatch":
        hint = _HINTS.get(err["ctx"]["pattern"], f"must match {err['ctx']['pattern']}")
        return f"{value!r} is not valid: {hint}"
    if kind == "value_error":
        return str(err["msg"]).removeprefix("Value error, ")
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        return f"{value!r}: {err['msg'].lower()}"
    return str(err["msg"])


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen: set[tuple[str, str, str]] = set()
    out = []
    for p in problems:
        key = (p.path, p.message, p.severity)
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out
