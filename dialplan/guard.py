"""A last look at every rendered file for what its PBX would act on beyond our intent.

Validation refuses unsafe names with their YAML path and the renderers neutralise free
text; this guard makes a future path that forgets either fail loudly (RenderError, i.e.
a bug report) instead of installing a file FreeSWITCH's pre-processor or Asterisk's
config parser would run.
"""

from __future__ import annotations

from dialplan.errors import RenderError
from dialplan.text import has_directive

#: Substrings on which FreeSWITCH's pre-processor acts (switch_xml.c `preprocess`): it
#: runs `<!--#cmd arg-->` and drops any line with `<?`, `<include>` or `</include>`.
_FS_MARKERS = ("<!--#", "<?", "<include>", "</include>")


def freeswitch_line_problem(line: str) -> str | None:
    """What FreeSWITCH's pre-processor would do with `line`, if anything; our own root
    `<include>` / `</include>` lines (dropped, as every stock file's are) are fine."""
    if has_directive(line):
        return "X-PRE-PROCESS directive"
    if line.strip() in ("<include>", "</include>"):
        return None
    for marker in _FS_MARKERS:
        if marker in line:
            return f"pre-processor marker {marker!r}"
    return None


def check(path: str, content: str, kind: str) -> None:
    """Raise RenderError when `content` (a file for a `kind` PBX) holds a line its PBX
    would act on before or instead of reading our configuration."""
    for n, line in enumerate(content.split("\n"), 1):
        if kind == "freeswitch":
            problem = freeswitch_line_problem(line)
        else:
            problem = "directive" if line.lstrip().startswith("#") else None
        if problem:
            raise RenderError(
                f"refusing to write {path}: line {n} holds a {problem} its PBX would act on; "
                "please report this as a bug"
            )
