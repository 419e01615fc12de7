"""The supervisor's reports view in a real browser (Debian chromium via Playwright) against
a real `implus chat` (gunicorn + gevent), with contacts routed by a real worker on the real
redis-server and stored by the reports sink in SQLite. Never skipped: without chromium it
fails and says how to install it."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from chattest import ChatProcess, chat_env, fast_accounts, free_port, staff_login

from reports.db import make_engine, migrate
from reports.sink import Sink
from reports.store import Store
from router.client import RouterClient
from router.keys import Keys
from router.model import AgentProfile
from router.worker import Worker

pytestmark = [pytest.mark.browser, pytest.mark.redis, pytest.mark.slow]
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def reports_chat(redis_url: str, tmp_path: Path) -> Iterator[tuple[ChatProcess, str]]:
    url = f"sqlite:///{tmp_path / 'reports.sqlite3'}"
    server = ChatProcess(
        port=free_port(),
        env=chat_env(redis_url, tmp_path / "uploads", IMPLUS_CHAT_REPORTS_DATABASE_URL=url),
        log=tmp_path / "chat.log",
    )
    server.start()
    yield server, url
    server.stop()


def route_contacts(redis_url: str, router_worker: Worker) -> None:
    """Two chats answered by alice, one abandoned: through the router and its worker."""
    client = RouterClient.from_url(redis_url)
    client.upsert_agent(AgentProfile(id="alice", name="Alice", capacity={"voice": 1, "chat": 3}))
    client.heartbeat("alice", ttl=600)
    assert client.set_status("alice", "available")
    answered = [client.submit("chat", "general", f"web-{i}") for i in range(2)]
    deadline = time.monotonic() + 15
    while len(client.agent_offers("alice")) < 2:
        assert time.monotonic() < deadline, "the worker made no offers"
        time.sleep(0.05)
    for offer in client.agent_offers("alice"):
        assert client.accept(offer.id, "alice")
    for sub in answered:
        assert client.complete(sub.request_id, "done")
    assert client.set_status("alice", "away", "break")
    left = client.submit("chat", "general", "web-9")
    while not client.request(left.request_id).queues:  # the worker queues it
        assert time.monotonic() < deadline, "the worker did not queue the request"
        time.sleep(0.05)
    assert client.cancel(left.request_id, "customer left")
    client.close()


def test_supervisor_sees_reports_as_a_table_and_a_chart(
    reports_chat: tuple[ChatProcess, str],
    redis_url: str,
    router_worker: Worker,
    artifacts_dir: Path,
) -> None:
    chat, url = reports_chat
    route_contacts(redis_url, router_worker)
    engine = make_engine(url)
    migrate(engine)
    sink = Sink(redis.Redis.from_url(redis_url, decode_responses=True), Keys(), Store(engine, b"k"))
    assert sink.acquire()
    sink.drain()
    sink.release()
    engine.dispose()
    staff_login(fast_accounts(redis_url), "admin", "root")

    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        pytest.fail("chromium is not installed: run `make test` (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    shots = artifacts_dir / "reports-browser"
    shots.mkdir(exist_ok=True)
    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_context(viewport={"width": 1280, "height": 1000}).new_page()
        page.on("console", lambda m: console_error(problems, m))
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on(
            "response",
            lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None,
        )
        page.goto(chat.url + "/login")
        page.fill("#username", "root")
        page.fill("#password", "root-password")
        page.check("input[name=role][value=admin]")
        page.click("#login-submit")
        page.wait_for_url("**/supervisor")
        row = page.locator("#report-table tbody tr", has_text="general")
        row.wait_for(timeout=15_000)
        cells = [c.strip() for c in row.locator("td").all_inner_texts()]
        assert cells[1:5] == ["general", "3", "2", "1"], cells  # offered, answered, abandoned
        page.wait_for_selector("#report-chart .uplot canvas")
        assert "Download CSV" in page.inner_text("#report-csv")
        assert "format=csv" in (page.get_attribute("#report-csv", "href") or "")
        page.locator("#reports").screenshot(path=str(shots / "1-queues.png"))

        page.select_option("#report-kind", "agents")
        page.click("#report-show")
        agent_row = page.locator("#report-table tbody tr", has_text="alice")
        agent_row.wait_for(timeout=15_000)
        agent_cells = [c.strip() for c in agent_row.locator("td").all_inner_texts()]
        assert agent_cells[2:4] == ["2", "2"]  # offers, answered
        page.locator("#reports").screenshot(path=str(shots / "2-agents.png"))
        csv_text = _download(page, chat.url + (page.get_attribute("#report-csv", "href") or ""))
        assert csv_text.splitlines()[0].startswith("interval_start,key,offers,answered")
        browser.close()
    assert not problems, problems


def console_error(problems: list[str], message: Any) -> None:
    """Errors in the page's console, but the browser's own favicon request (none is served)."""
    if message.type == "error" and not message.location.get("url", "").endswith("/favicon.ico"):
        problems.append(f"{message.text} at {message.location.get('url')}")


def _download(page: Any, url: str) -> str:
    """The CSV with the page's session cookie (the page's CSP forbids eval)."""
    response = page.context.request.get(url)
    assert response.status == 200, response.text()
    return str(response.text())
