"""The atomic state transitions, as Lua scripts (``router/lua/*.lua``).

Each script runs as the shared prelude (``prelude.lua``: event emission, PBX commands, the
agent availability check and the helpers several transitions share) followed by its body,
with every ``K.<template>(parts...)`` expanded from :data:`router.keys.TEMPLATES`
(:func:`expand_keys`). Every script takes ``ARGV[1]`` = key prefix and ``ARGV[2]`` = now
(ms); the rest of ARGV and its KEYS are documented at the top of each file, and that
documentation is what :func:`keys_for` builds the KEYS from::

    -- KEYS: 1 request(ARGV[3]), 2 agent(ARGV[4]), 3 timers, 4 leases('desktop')
    -- ARGV: 3 request id, 4 agent id

``name(...)`` is a :class:`router.keys.Keys` template; its parts are ARGV values or quoted
literals; ``ARGV[n]?`` marks an optional id: when it is '' the key is left out (optional
keys come last, and the script does not index them). A script taking a variable number
of items (``reserve_batch``) declares the keys of each item after its fixed ones::

    -- KEYS: 1 timers, 2 events
    -- KEYS per decision, 9 ARGV each from ARGV[5]: request(+0), agent(+1)

``+k`` is the item's k-th value: the call's KEYS end with those keys for every item.
Every key a script can name before it runs is declared there (so a Redis Cluster routes
the call and a reader sees what it touches); keys that depend on what the script reads
in Redis are built inside it with ``K.<template>(...)``. All share the ``{domain}`` hash
tag: one slot. A refused transition returns ``{0, reason}``: losing a race is a normal
outcome, not an exception.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any

from router.keys import TEMPLATES, Keys, parts_of

NAMES = (
    "submit",
    "enqueue",
    "reserve_batch",
    "accept",
    "release",
    "cancel",
    "complete",
    "set_status",
    "heartbeat",
    "expire_leases",
    "claim_timers",
    "overflow",
    "upsert_agent",
    "remove_agent",
    "transfer",
    "close_session",
    "append",
    "click_to_call",
    "load_strategy",
    "force_status",
    "move_request",
    "call_control",
    "handover",
)

FIRST_ARG = 3
"""ARGV index of a script's first own argument (1 = key prefix, 2 = now)."""


class ScriptHeaderError(ValueError):
    """A script's KEYS documentation cannot be read: fix the header of the named file."""


@dataclass(frozen=True)
class KeyRef:
    """One declared key: template ``name`` filled with ARGV values (int) or literals (str)."""

    name: str
    parts: tuple[int | str, ...]
    optional: bool = False
    """Left out of KEYS when one of its ARGV parts is '' (such keys come last)."""

    def __str__(self) -> str:
        if not self.parts:
            return self.name
        mark = "?" if self.optional else ""
        shown = (f"ARGV[{p}]{mark}" if isinstance(p, int) else f"'{p}'" for p in self.parts)
        return f"{self.name}({', '.join(shown)})"


_REF = re.compile(r"(\d+) ([a-z_]+)(?:\(([^)]*)\))?")


def _part(text: str, where: str) -> int | str:
    text = text.strip().removesuffix("?")
    if m := re.fullmatch(r"ARGV\[(\d+)\]", text):
        index = int(m.group(1))
        if index < FIRST_ARG:
            raise ScriptHeaderError(f"{where}: ARGV[{index}] is the prefix or now, not a part")
        return index
    if m := re.fullmatch(r"'([A-Za-z0-9_.-]+)'", text):
        return m.group(1)
    raise ScriptHeaderError(f"{where}: a key part is ARGV[n] or a 'literal', got {text!r}")


@dataclass(frozen=True)
class RepeatedKeys:
    """The keys of each item of a script taking a variable number of items: the items are
    ``width`` ARGV values each from ARGV[``start``]; a ref's int parts are offsets in one."""

    start: int
    width: int
    refs: tuple[KeyRef, ...]


_REPEATED = re.compile(r"-- KEYS per [a-z ]+, (\d+) ARGV each from ARGV\[(\d+)\]:")
_ITEM_REF = re.compile(r"([a-z_]+)(?:\(([^)]*)\))?")


def _header(lua: str, first: str) -> list[str]:
    """The text of the header lines from the one starting with ``first`` up to the next
    ``-- KEYS per``/``-- ARGV:`` line or the end of the header, remarks left out."""
    lines = lua.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith(first)), None)
    if start is None:
        return []
    text = [lines[start].removeprefix(first)]
    for line in lines[start + 1 :]:
        if line.startswith(("-- ARGV:", "-- KEYS per ")) or not line.startswith("--"):
            break
        if not line.startswith("-- ("):  # a remark on the keys
            text.append(line.removeprefix("--"))
    return text


def parse_keys(name: str, lua: str) -> tuple[KeyRef, ...]:
    """The KEYS a script's header declares (its ``-- KEYS:`` lines, up to ``-- ARGV:``)."""
    if not any(line.startswith("-- KEYS:") for line in lua.splitlines()):
        raise ScriptHeaderError(f"router/lua/{name}.lua: no '-- KEYS:' line in its header")
    refs: list[KeyRef] = []
    rest = " ".join(_header(lua, "-- KEYS:")).strip()
    while rest:
        n = len(refs) + 1
        where = f"router/lua/{name}.lua KEYS[{n}]"
        m = _REF.match(rest)
        if m is None or int(m.group(1)) != n:
            raise ScriptHeaderError(f"{where}: expected '{n} template(parts)', got {rest!r}")
        rest = rest[m.end() :].strip().removeprefix(",").strip()
        template = m.group(2)
        parts = tuple(_part(p, where) for p in m.group(3).split(",")) if m.group(3) else ()
        _check_template(template, parts, where)
        optional = "?" in (m.group(3) or "")
        if refs and refs[-1].optional and not optional:
            raise ScriptHeaderError(f"{where}: optional keys (ARGV[n]?) must come last")
        refs.append(KeyRef(template, parts, optional))
    return tuple(refs)


def parse_repeated(name: str, lua: str) -> RepeatedKeys | None:
    """The per-item keys a script's header declares (``-- KEYS per ...``), if any."""
    line = next((li for li in lua.splitlines() if li.startswith("-- KEYS per ")), None)
    if line is None:
        return None
    where = f"router/lua/{name}.lua KEYS per item"
    m = _REPEATED.match(line)
    if m is None:
        raise ScriptHeaderError(
            f"{where}: expected '-- KEYS per <item>, N ARGV each from ARGV[n]:'"
        )
    width, start = int(m.group(1)), int(m.group(2))
    if start < FIRST_ARG or width < 1:
        raise ScriptHeaderError(f"{where}: items start at ARGV[{FIRST_ARG}] or later")
    rest = " ".join(_header(lua, m.group(0))).strip()
    refs: list[KeyRef] = []
    while rest:
        r = _ITEM_REF.match(rest)
        if r is None:
            raise ScriptHeaderError(f"{where}: expected 'template(+k, ...)', got {rest!r}")
        rest = rest[r.end() :].strip().removeprefix(",").strip()
        parts = (
            tuple(_item_part(p, width, where) for p in r.group(2).split(",")) if r.group(2) else ()
        )
        _check_template(r.group(1), parts, where)
        refs.append(KeyRef(r.group(1), parts))
    if not refs:
        raise ScriptHeaderError(f"{where}: no keys")
    return RepeatedKeys(start, width, tuple(refs))


def _item_part(text: str, width: int, where: str) -> int | str:
    text = text.strip()
    if m := re.fullmatch(r"\+(\d+)", text):
        if int(m.group(1)) >= width:
            raise ScriptHeaderError(f"{where}: +{m.group(1)} is beyond an item's {width} values")
        return int(m.group(1))
    if m := re.fullmatch(r"'([A-Za-z0-9_.-]+)'", text):
        return m.group(1)
    raise ScriptHeaderError(f"{where}: a key part is +k or a 'literal', got {text!r}")


def _check_template(template: str, parts: tuple[int | str, ...], where: str) -> None:
    if template not in TEMPLATES:
        raise ScriptHeaderError(f"{where}: no key template {template!r} in router/keys.py")
    if len(parts) != len(parts_of(TEMPLATES[template].pattern)):
        raise ScriptHeaderError(
            f"{where}: {template} takes {len(parts_of(TEMPLATES[template].pattern))} parts"
        )


def lua_key(name: str, args: Sequence[str]) -> str:
    """The Lua expression of key template ``name`` with the Lua expressions ``args`` as its
    parts: ``lua_key("agent_offers", ["aid"])`` is ``(P .. 'agent:' .. (aid) .. ':offers')``.
    """
    template = TEMPLATES.get(name)
    if template is None:
        raise ScriptHeaderError(f"K.{name}: no key template {name!r} in router/keys.py")
    if len(args) != len(parts_of(template.pattern)):
        raise ScriptHeaderError(
            f"K.{name} takes {len(parts_of(template.pattern))} parts, got {len(args)}"
        )
    parts = iter(args)
    pieces = ["P"]
    for literal, part, _spec, _conv in string.Formatter().parse(template.pattern):
        if literal:
            pieces.append(_lua_string(literal))
        if part:
            pieces.append(f"({next(parts)})")
    return "(" + " .. ".join(pieces) + ")"


_K_CALL = re.compile(r"\bK\.([a-z_]+)\(")


def expand_keys(code: str) -> str:
    """Lua ``code`` with every ``K.<template>(parts...)`` replaced by the concatenation the
    template in router/keys.py spells (:func:`lua_key`), on the same line.

    Scripts write ``K.agent(aid)``; Redis runs ``(P .. 'agent:' .. (aid))``. Generated key
    functions would be closures Redis creates at every call of every script (~2 us per
    call for the 16 the prelude needs); inline concatenation costs nothing extra.
    """
    out = []
    pos = 0
    while m := _K_CALL.search(code, pos):
        args, end = _call_args(code, m.end(), m.group(1))
        out += [code[pos : m.start()], lua_key(m.group(1), [expand_keys(a) for a in args])]
        pos = end
    out.append(code[pos:])
    return "".join(out)


def _call_args(code: str, start: int, name: str) -> tuple[list[str], int]:
    """The top-level arguments of a call whose ``(`` ends at ``start``, and the index after
    its ``)``; quoted strings and nested parentheses are skipped over."""
    args: list[str] = []
    depth, i, last = 1, start, start
    while i < len(code):
        ch = code[i]
        if ch in "'\"":
            i += 1
            while i < len(code) and code[i] != ch:
                i += 2 if code[i] == "\\" else 1
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                if code[last:i].strip():
                    args.append(code[last:i].strip(" \t"))  # newlines kept: line numbers
                return args, i + 1
        elif ch == "," and depth == 1:
            args.append(code[last:i].strip(" \t"))
            last = i + 1
        i += 1
    raise ScriptHeaderError(f"K.{name}(: no closing parenthesis")


def _lua_string(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9:_.-]*", text):
        raise ValueError(f"key template piece {text!r} must be letters, digits, ':', '_', '-'")
    return f"'{text}'"


@cache
def body(name: str) -> str:
    """Script ``name`` as written in ``router/lua/<name>.lua`` (header + body)."""
    if name not in NAMES:
        raise KeyError(f"no script {name!r}")
    return (files("router") / "lua" / f"{name}.lua").read_text()


@cache
def source(name: str) -> str:
    """The full Lua source of script ``name``: the key prefix, the part of the prelude it
    uses (:func:`prelude_for`) and its body, with the key names expanded from
    router/keys.py (:func:`expand_keys`)."""
    code = prelude_for(body(name)) + "\n" + body(name)
    return "local P = ARGV[1]  -- the key prefix 'implus:{domain}:'\n" + expand_keys(code)


_TOP_LOCAL = re.compile(r"local (?:function )?([A-Za-z_][A-Za-z0-9_]*)")


def prelude_for(code: str) -> str:
    """``prelude.lua`` with only the top-level locals ``code`` uses, directly or through
    other prelude locals; the others become blank lines (line numbers stay those of the
    file). Redis runs the whole script at every call, so each prelude function it defines
    is a closure made every time (~0.1 us each, ~3.5 us for the whole prelude); a script
    uses a handful. A name counts as used wherever it appears as a word (comments too), so
    nothing a script calls can be left out."""
    lines = (files("router") / "lua" / "prelude.lua").read_text().split("\n")
    starts = [i for i, line in enumerate(lines) if _TOP_LOCAL.match(line)]
    spans: dict[str, tuple[int, int]] = {}
    for start, end in zip(starts, [*starts[1:], len(lines)], strict=True):
        m = _TOP_LOCAL.match(lines[start])
        assert m is not None
        spans[m.group(1)] = (start, end)
    used: set[str] = set()
    todo = [code]
    while todo:
        text = todo.pop()
        for local, (start, end) in spans.items():
            if local not in used and re.search(rf"\b{local}\b", text):
                used.add(local)
                todo.append("\n".join(lines[start:end]))
    for local, (start, end) in spans.items():
        if local not in used:
            lines[start:end] = [""] * (end - start)
    return "\n".join(lines)


@cache
def declared_keys(name: str) -> tuple[KeyRef, ...]:
    """The KEYS script ``name`` declares in its header."""
    return parse_keys(name, body(name))


@cache
def repeated_keys(name: str) -> RepeatedKeys | None:
    """The per-item KEYS script ``name`` declares in its header, if it takes items."""
    return parse_repeated(name, body(name))


# Per script and domain: a format string per mandatory key, (format, ARGV indexes) per
# optional one, and per-item formats (with where items start and their width). Each
# format reads the script's own arguments by position ("{0}" = ARGV[3]; for an item,
# "{0}" = its first value), so a key is one str.format: this runs for every script call.
_Compiled = tuple[
    tuple[str, ...],
    tuple[tuple[str, tuple[int, ...]], ...],
    tuple[int, int, tuple[str, ...]] | None,
]


def _compile(name: str, keys: Keys) -> _Compiled:
    mandatory: list[str] = []
    optional: list[tuple[str, tuple[int, ...]]] = []
    for ref in declared_keys(name):
        fmt = _format(keys, ref, FIRST_ARG)
        if ref.optional:
            indexes = tuple(p - FIRST_ARG for p in ref.parts if isinstance(p, int))
            optional.append((fmt, indexes))
        else:
            mandatory.append(fmt)
    items = repeated_keys(name)
    per_item = None
    if items is not None:
        formats = tuple(_format(keys, ref, 0) for ref in items.refs)
        per_item = (items.start - FIRST_ARG, items.width, formats)
    return tuple(mandatory), tuple(optional), per_item


def _format(keys: Keys, ref: KeyRef, first: int) -> str:
    escaped = keys.prefix.replace("{", "{{").replace("}", "}}")
    slots = ["{" + str(p - first) + "}" if isinstance(p, int) else _escape(p) for p in ref.parts]
    return escaped + keys.build(ref.name, *slots).removeprefix(keys.prefix)


def _escape(literal: str) -> str:
    return literal.replace("{", "{{").replace("}", "}}")


_COMPILED: dict[tuple[str, str], _Compiled] = {}


def keys_for(name: str, keys: Keys, args: Sequence[Any]) -> list[str]:
    """The KEYS of a call of script ``name`` with its own arguments ``args`` (ARGV[3]...)."""
    compiled = _COMPILED.get((name, keys.prefix))
    if compiled is None:
        compiled = _COMPILED[name, keys.prefix] = _compile(name, keys)
    mandatory, optional, per_item = compiled
    out = [fmt.format(*args) for fmt in mandatory]
    for fmt, indexes in optional:
        if all(args[i] != "" for i in indexes):
            out.append(fmt.format(*args))
    if per_item is not None:
        start, width, formats = per_item
        if formats not in _SIMPLE:
            parsed = [_simple(fmt) for fmt in formats]
            _SIMPLE[formats] = tuple(p for p in parsed if p is not None) if all(parsed) else None
        simple = _SIMPLE[formats]
        if simple is not None:  # one placeholder each: concatenated (~3x less CPU than format)
            for i in range(start, len(args), width):
                out += [head + str(args[i + k]) + tail for head, k, tail in simple]
        else:
            for i in range(start, len(args), width):
                item = args[i : i + width]
                out += [fmt.format(*item) for fmt in formats]
    return out


_SIMPLE: dict[tuple[str, ...], tuple[tuple[str, int, str], ...] | None] = {}


def _simple(fmt: str) -> tuple[str, int, str] | None:
    """``fmt`` as (text before, argument index, text after) when it has one placeholder, a
    bare index (``str(value)`` is then what ``format`` writes), else None."""
    parts = list(string.Formatter().parse(fmt))
    fields = [(lit, name, spec, conv) for lit, name, spec, conv in parts if name is not None]
    if len(fields) != 1 or not fields[0][1].isdigit() or fields[0][2] or fields[0][3]:
        return None
    head = "".join(p[0] for p in parts[: parts.index(fields[0]) + 1])
    tail = "".join(p[0] for p in parts[parts.index(fields[0]) + 1 :])
    return head, int(fields[0][1]), tail
