"""Text that no PBX configuration file may hold, whatever field of the admin YAML it is in.

FreeSWITCH's XML pre-processor reads every configuration file line by line before the XML
parser, comments included, and searches each line (ignoring case) for `X-PRE-PROCESS`: a
line holding it right after a `<` is a directive (`cmd="exec"` runs a shell command on
every `reloadxml`), any other line holding it is dropped (../shared/PROTOCOLS.md). Names,
hosts and other values written into generated files as they are must therefore never
contain the word; free text (labels, agent names) is rendered inert instead
(`dialplan.text.comment` / `display_name`), so it is not checked here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from admin_config.problems import Loc, Problem, error

#: The pre-processor's own search (switch_xml.c: switch_stristr("X-pre-process", line)).
DIRECTIVE = re.compile(r"x-pre-process", re.IGNORECASE)

#: Free-text keys, rendered inert wherever they are written: section -> keys.
FREE_TEXT = {
    "services": {"label"},
    "entry_points": {"label"},
    "agents": {"name"},
    "supervisors": {"name"},
}


def _strings(node: Any, loc: Loc) -> Iterator[tuple[Loc, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(key, str):
                yield (*loc, key), key
            yield from _strings(value, (*loc, str(key)))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _strings(value, (*loc, i))
    elif isinstance(node, str):
        yield loc, node


def directive_problems(data: dict[str, Any], sections: tuple[str, ...]) -> list[Problem]:
    """An error for every value (or key) in `sections` holding the pre-processor's word."""
    out = []
    for section in sections:
        for loc, text in _strings(data.get(section), (section,)):
            if len(loc) == 3 and loc[2] in FREE_TEXT.get(section, ()):
                continue
            if DIRECTIVE.search(text):
                out.append(
                    error(
                        loc,
                        f"{text!r} holds 'X-PRE-PROCESS', the FreeSWITCH configuration "
                        "pre-processor's directive: FreeSWITCH would run or drop any line "
                        "holding it (comments too), so it cannot be part of a name or value",
                    )
                )
    return out
