"""Neutralising free text (labels, agent names) and guarding tokens written into PBX files.

Two rules keep generated configuration safe whatever the admin YAML holds:
1. Free text reaches a generated file only through `comment()` or `display_name()`, which
   drop everything that could end a line, a comment, a quoted value or start a variable
   expansion (Asterisk `${`/`$[`, FreeSWITCH `${`/`$${`), and break FreeSWITCH's
   pre-processor directives: its pre-processor reads the raw file line by line before any
   XML parsing - comments included - and acts on every line holding `X-PRE-PROCESS`
   (any case; `cmd="exec"` runs a shell command on each reloadxml), `<!--#`, `<?`,
   `<include>` (see ../shared/PROTOCOLS.md).
2. Everything else written into dialplan code goes through `token()`, which refuses (with
   an exception, i.e. a bug report) any character outside a small safe set, and the
   directive word. Config validation already restricts those values (with the YAML
   path); `token()` makes a future path that forgets to validate fail loudly instead of
   writing an injectable file.
"""

from __future__ import annotations

import re
import unicodedata

from dialplan.errors import RenderError

#: Characters a token written into dialplan code may contain.
_TOKEN = re.compile(r"^[A-Za-z0-9_.+*#@/:=-]+$")

_DISPLAY_PUNCT = set(" .-_'@+")

#: FreeSWITCH's pre-processor finds its directive with a case-insensitive search for this
#: word (switch_xml.c): a line holding it is run (after a '<') or dropped (otherwise).
PREPROCESSOR_WORD = re.compile(r"x-pre-process", re.IGNORECASE)


def has_directive(text: str) -> bool:
    """Whether FreeSWITCH's pre-processor would act on a line holding `text`."""
    return PREPROCESSOR_WORD.search(text) is not None


def defuse(text: str) -> str:
    """`text` with the pre-processor's directive word broken (``X-PRE PROCESS``)."""
    while (m := PREPROCESSOR_WORD.search(text)) is not None:
        word = m.group(0)
        text = text[: m.start()] + word[:5] + " " + word[6:] + text[m.end() :]
    return text


def _printable(text: str) -> str:
    """Control, format and separator characters (newlines, U+2028, BOM...) become spaces."""
    return "".join(" " if unicodedata.category(c)[0] in "CZ" and c != " " else c for c in text)


def comment(text: str, limit: int = 100) -> str:
    """Free text for a comment, inert in both PBXs' files.

    One line; no comment terminators (``-->``, Asterisk's ``--;``); ``<``/``>`` become
    ``(``/``)`` (no tag, ``<?`` or ``<!--#`` for FreeSWITCH's pre-processor); ``${``,
    ``$[`` get a space (FreeSWITCH expands ``$${...}`` even inside comments); the
    directive word is broken.
    """
    out = _printable(text).replace("<", "(").replace(">", ")")
    out = out.replace("--", "- -").replace("--", "- -")
    out = re.sub(r"\$(?=[{\[])", "$ ", out)
    out = re.sub(r"\s+", " ", out).strip().rstrip("-")
    if len(out) > limit:
        out = out[: limit - 3].rstrip() + "..."
    return defuse(out)


def display_name(text: str, limit: int = 60) -> str:
    """Free text for a caller-id name: letters, digits, spaces and ``.-_'@+`` only.

    Quotes, ``<>``, ``;``, ``,``, ``$``, braces, backslashes and parentheses would end a
    quoted caller id, start a comment, split application arguments or start an expansion
    on one PBX or the other, so they are dropped.
    """
    kept = "".join(c if c.isalnum() or c in _DISPLAY_PUNCT else " " for c in _printable(text))
    kept = re.sub(r"\s+", " ", kept).strip()
    return defuse(kept[:limit].strip())


def token(value: str | int, what: str, pattern: str | None = None) -> str:
    """`value` unchanged if it is safe to write into dialplan code, else RenderError.

    `pattern` replaces the default safe set for values with their own rule (e.g.
    FreeSWITCH hold music, which may reference ``$${hold_music}``).
    """
    s = str(value)
    if not re.match(pattern or _TOKEN, s) or has_directive(s):
        raise RenderError(f"refusing to write unsafe {what} {s!r} into PBX configuration")
    return s


def conf_value(value: str) -> str:
    """A value for an Asterisk .conf ``key=value`` line (``;`` would start a comment)."""
    if any(c in value for c in "\r\n"):
        raise RenderError("a configuration value cannot contain a line break")
    return value.replace(";", "\\;")
