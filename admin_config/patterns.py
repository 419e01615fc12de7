"""Extension patterns: one syntax in the admin YAML (Asterisk's), a regex for FreeSWITCH.

An entry point's `extension` is either a literal (``800``, ``+4930123``) or an Asterisk
pattern (``_8XX``: X any digit, Z 1-9, N 2-9, ``[1-4]`` a set, ``.`` one or more of
anything, ``!`` zero or more). FreeSWITCH gets the equivalent anchored regex.
"""

from __future__ import annotations

import re

from admin_config.names import is_pattern

_CLASSES = {"X": "[0-9]", "Z": "[1-9]", "N": "[2-9]"}


def pattern_problems(extension: str) -> list[str]:
    """What is wrong with an Asterisk pattern (empty list when it is fine or a literal)."""
    if not is_pattern(extension):
        return []
    body = extension[1:]
    problems: list[str] = []
    depth = 0
    for i, ch in enumerate(body):
        if ch == "[":
            if depth:
                problems.append("'[' inside a [...] set")
            depth += 1
        elif ch == "]":
            if not depth:
                problems.append("']' without '['")
            depth = max(0, depth - 1)
        elif ch in ".!" and not depth and i != len(body) - 1:
            problems.append(f"'{ch}' matches the rest of the number, so it must come last")
    if depth:
        problems.append("'[' without ']'")
    if re.search(r"\[\]", body):
        problems.append("empty [] set")
    return problems


def _pieces(extension: str) -> list[str]:
    """Regex pieces of a valid pattern, one per dialled position (or tail)."""
    body = extension[1:]
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "[":
            end = body.index("]", i)
            out.append("[" + _class_members(body[i + 1 : end]) + "]")
            i = end + 1
            continue
        if ch.upper() in _CLASSES:
            out.append(_CLASSES[ch.upper()])
        elif ch == ".":
            out.append(".+")
        elif ch == "!":
            out.append(".*")
        elif ch == "-":
            pass  # Asterisk ignores dashes in patterns (_555-XXXX)
        else:
            out.append(re.escape(ch))
        i += 1
    return out


def _class_members(members: str) -> str:
    # Keep ranges like 1-5; escape anything regex-special that is not a range dash.
    out = ""
    for j, ch in enumerate(members):
        if ch == "-" and 0 < j < len(members) - 1:
            out += "-"
        else:
            out += re.escape(ch)
    return out


def to_regex(extension: str) -> str:
    """Anchored regex for a literal extension or an Asterisk pattern (for FreeSWITCH)."""
    if not is_pattern(extension):
        return "^" + re.escape(extension) + "$"
    return "^" + "".join(_pieces(extension)) + "$"


def matches(extension: str, dialled: str) -> bool:
    """Whether dialling `dialled` reaches `extension` (literal or pattern)."""
    return re.match(to_regex(extension), dialled) is not None


def overlaps(a: str, b: str) -> bool:
    """Whether two entry extensions could both match a dialled number.

    Exact for literal/literal and literal/pattern; for two patterns it compares them as
    written (identical patterns), which is what Asterisk itself refuses to disambiguate.
    """
    if not is_pattern(a) and not is_pattern(b):
        return a == b
    if not is_pattern(a):
        return matches(b, a)
    if not is_pattern(b):
        return matches(a, b)
    return to_regex(a) == to_regex(b)
