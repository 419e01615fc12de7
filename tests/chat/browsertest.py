"""Helpers for the browser tests (imported as a plain module: tests/chat is on sys.path):
logging in, polling from the test side, and the axe-core accessibility check.

axe-core comes from the npm registry (package.json / package-lock.json, installed by
`make deps`) and is injected into the page under test; it is never copied into the repo."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SERIOUS = ("serious", "critical")


def wait_until(check: Callable[[], Any], timeout: float = 15, what: str = "condition") -> Any:
    """Poll from here (the pages' CSP forbids the eval that page-side waiting needs)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.15)
    raise AssertionError(f"{what} not reached within {timeout} s")


def log_in(page: Any, url: str, user: str, password: str | None = None, role: str = "") -> None:
    page.goto(url + "/login")
    page.fill("#username", user)
    page.fill("#password", password or f"{user}-password")
    if role:
        page.check(f"input[name=role][value={role}]")
    page.click("#login-submit")


def desktop(page: Any, url: str, agent: str, available: bool = True) -> Any:
    """Log the agent in and (by default) go available; returns the page."""
    log_in(page, url, agent)
    page.wait_for_url("**/agent")
    page.wait_for_selector("#link-state:has-text('online')")
    if available:
        page.select_option("#status-select", "available")
        page.click("#status-apply")
        page.wait_for_selector("#status-now:has-text('available')")
    return page


def axe_source() -> str:
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `make deps` (npm ci installs axe-core)")
    return AXE.read_text(encoding="utf-8")


def axe_violations(page: Any, impacts: tuple[str, ...] = SERIOUS) -> list[dict[str, Any]]:
    """Run axe-core on the page (open shadow roots included: the widget) and return the
    violations of the given impacts, each with its rule, help and the nodes it found."""
    if not page.evaluate("() => Boolean(window.axe)"):
        page.evaluate(axe_source())  # evaluated by the driver, so the page's CSP allows it
    result = page.evaluate(
        "async () => { const r = await axe.run(document, {resultTypes: ['violations']});"
        " return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.map(n => n.target.join(' ') + ' :: ' + n.failureSummary)})); }"
    )
    return [v for v in result if v["impact"] in impacts]


def assert_accessible(page: Any, what: str) -> None:
    found = axe_violations(page)
    assert not found, f"{what}: axe-core found serious problems:\n" + "\n".join(
        f"- {v['id']} ({v['impact']}): {v['help']}\n    " + "\n    ".join(v["nodes"][:5])
        for v in found
    )
