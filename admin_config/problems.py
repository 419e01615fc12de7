"""A problem found in the admin YAML, located by its YAML path (and line when known)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal

Loc = tuple[str | int, ...]
Severity = Literal["error", "warning"]


def format_path(loc: Loc) -> str:
    """``("entry_points", 2, "service")`` -> ``entry_points[2].service``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


@dataclass(frozen=True)
class Problem:
    """One thing wrong in the config. `loc` is the YAML path; `line` is 1-based.

    `file` names another file the problem is in (the strategy file the admin YAML refers
    to); None means the admin YAML itself."""

    loc: Loc
    message: str
    line: int | None = None
    severity: Severity = "error"
    file: str | None = None

    @property
    def path(self) -> str:
        return format_path(self.loc)

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"

    def format(self, source: str | None = None) -> str:
        """``admin.yaml:14: entry_points[2].service: unknown service 'bookin' (...)``."""
        where = ""
        source = self.file or source
        if source:
            where = f"{source}:{self.line}: " if self.line else f"{source}: "
        elif self.line:
            where = f"line {self.line}: "
        tag = "warning: " if self.severity == "warning" else ""
        return f"{where}{tag}{self}"

    def located(self, lines: Mapping[Loc, int]) -> Problem:
        """This problem with the line of its path, or of the nearest enclosing path (in the
        admin YAML; a problem in another file comes with its line)."""
        if self.line is not None or self.file is not None:
            return self
        for n in range(len(self.loc), -1, -1):
            if self.loc[:n] in lines:
                return replace(self, line=lines[self.loc[:n]])
        return self


def error(loc: Loc, message: str) -> Problem:
    return Problem(loc, message)


def warning(loc: Loc, message: str, line: int | None = None, file: str | None = None) -> Problem:
    return Problem(loc, message, line=line, severity="warning", file=file)
