"""What the PBXs themselves would act on in a generated file: the oracle of the injection tests.

Written from the PBXs' sources, independently of `dialplan/` (which has its own guard):
- FreeSWITCH's XML pre-processor (switch_xml.c `preprocess`) reads the raw file line by
  line BEFORE XML parsing, comments included: it expands `$${name}` anywhere; drops
  every line holding `<include>`, `</include>` or `<?`; runs any line holding
  `X-PRE-PROCESS` (any case) right after a `<` as a directive (set, exec, exec-set,
  include) and drops the line when the `<` is missing; and runs `<!--#cmd arg-->`.
  `${...}` in attribute values is expanded when the dialplan runs (`${api(args)}` calls
  an API command).
- Asterisk's config parser (config.c) ends a line at the first unescaped `;`, starts a
  block comment at `;--`, runs `#include` / `#exec` at the start of a line; the dialplan
  expands `${...}` and `$[...]` when a priority runs.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

FS_DIRECTIVE = re.compile(r"x-pre-process", re.IGNORECASE)
SECRET_LINE = re.compile(r"^\s*(password|secret)\s*=")


def expansions(text: str) -> list[str]:
    """Every `${...}`, `$${...}` and `$[...]` expression, outermost, brackets balanced (an
    unterminated one runs to the end of its line)."""
    out = []
    i = 0
    while i < len(text):
        m = re.compile(r"\$\$?[{\[]").search(text, i)
        if not m:
            break
        depth, j = 0, m.start()
        while j < len(text) and text[j] != "\n":
            if text[j] in "{[":
                depth += 1
            elif text[j] in "}]":
                depth -= 1
                if depth == 0:
                    j += 1
                    break
            j += 1
        out.append(text[m.start() : j])
        i = j
    return out


def freeswitch_problems(content: str, allowed: set[str]) -> list[str]:
    """Why FreeSWITCH would do something with `content` beyond parsing our XML."""
    problems = []
    lines = content.split("\n")
    for n, line in enumerate(lines, 1):
        if FS_DIRECTIVE.search(line):
            problems.append(f"line {n}: the pre-processor acts on X-PRE-PROCESS: {line!r}")
        if "<!--#" in line:
            problems.append(f"line {n}: the pre-processor runs <!--#...-->: {line!r}")
        if "<?" in line:
            problems.append(f"line {n}: the pre-processor drops lines with '<?': {line!r}")
        if ("<include>" in line or "</include>" in line) and line.strip() not in (
            "<include>",
            "</include>",
        ):
            problems.append(f"line {n}: the pre-processor drops this line: {line!r}")
    found = [e for e in expansions(content) if not e.startswith("$[")]  # no such thing here
    problems += [f"expansion {e!r}" for e in found if e not in allowed]
    try:
        ET.fromstring(content)
    except ET.ParseError as e:
        problems.append(f"not well-formed XML: {e}")
    return problems


def xml_shape(content: str) -> list[tuple[str, tuple[str, ...]]]:
    """Element tags and attribute names, in document order (comments are not elements)."""
    return [(el.tag, tuple(sorted(el.attrib))) for el in ET.fromstring(content).iter()]


def asterisk_code(content: str) -> list[str]:
    """The lines Asterisk interprets (comments and blank lines removed)."""
    out = []
    for line in content.split("\n"):
        stripped = line.strip()
        if stripped and not stripped.startswith(";"):
            out.append(stripped)
    return out


def asterisk_skeleton(content: str) -> list[tuple[str, ...]]:
    """Each interpreted line reduced to its kind: a section, a key, a priority and its
    application, an include. Injected sections, keys, priorities and directives show."""
    out: list[tuple[str, ...]] = []
    for line in asterisk_code(content):
        if line.startswith("#"):
            out.append(("directive", line))
        elif line.startswith("["):
            out.append(("section",))
        elif m := re.match(r"^(exten|same)\s*=>\s*[^,]*,[^,]*?,?([A-Za-z]+)\(", line):
            out.append((m.group(1), m.group(2)))
        elif m := re.match(r"^include\s*=>\s*(.*)$", line):
            out.append(("include", m.group(1)))
        elif m := re.match(r"^([a-z_]+)=", line):
            out.append(("key", m.group(1)))
        else:
            out.append(("?", line))
    return out


def asterisk_problems(content: str, allowed: set[str]) -> list[str]:
    """Why Asterisk would read `content` differently from the lines we meant."""
    problems = []
    for line in asterisk_code(content):
        if line.startswith("#"):
            problems.append(f"directive: {line!r}")
        if ";" in line.replace("\\;", ""):
            problems.append(f"unescaped ';' (the rest of the line is a comment): {line!r}")
        if SECRET_LINE.match(line):
            continue  # secret values are never expanded
        problems += [f"expansion {e!r} in {line!r}" for e in expansions(line) if e not in allowed]
    return problems
