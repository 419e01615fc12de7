"""The folder layout shows the architecture: which package may import which.

`router` is the core and imports none of the others; `admin_config` and the shared call flow
sit on it; the adapters (bridges, chat, dialplan) on those; the development stack on top.
Nothing imports upward and there are no import cycles between packages. Checked on the
source (every `import` statement, lazy ones inside functions included).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

ALLOWED: dict[str, set[str]] = {
    "router": set(),
    "admin_config": {"router"},
    "callflow": {"router", "admin_config"},
    "dialplan": {"router", "admin_config"},
    "reports": {"router"},
    "chat": {"router", "admin_config", "reports"},
    "ami_bridge": {"router", "admin_config", "callflow"},
    "esl_bridge": {"router", "admin_config", "callflow"},
    "devstack": {"router", "admin_config", "callflow", "dialplan", "chat", "ami_bridge",
                 "esl_bridge", "reports"},
}  # fmt: skip
PACKAGES = set(ALLOWED)
MAX_LINES = 450


def imports_of(path: Path) -> set[str]:
    """Top-level project packages that `path` imports."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found |= {n.split(".")[0] for n in names if n.split(".")[0] in PACKAGES}
    return found


def sources(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_package_imports_only_what_sits_below_it(package: str) -> None:
    wrong = {
        f"{path.relative_to(ROOT)} imports {other}"
        for path in sources(package)
        for other in imports_of(path) - ALLOWED[package] - {package}
    }
    assert not wrong, sorted(wrong)


def test_allowed_graph_has_no_cycles() -> None:
    def reaches(start: str, goal: str, seen: frozenset[str] = frozenset()) -> bool:
        return any(
            nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt}))
            for nxt in ALLOWED[start]
        )

    assert not [p for p in PACKAGES if reaches(p, p)]


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_modules_hold_one_idea(package: str) -> None:
    """Small modules of one idea: none over ~450 lines."""
    big = {
        str(path.relative_to(ROOT)): n
        for path in sources(package)
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not big, big
