"""The supervisor's wall board in a real browser (Debian chromium via Playwright) against a
real `implus chat` (gunicorn + gevent), a real allocation worker on the real redis-server
and the reports sink writing SQLite in a thread: the board updates live as contacts queue
and are answered, quiet rows are folded away, a queue drills down to its contacts and
agents, a supervisor forces an agent's status and moves a waiting contact, and the last
hour (tables and charts) follows. Never skipped: without chromium it fails and says how to
install it. Screenshots go to test-artifacts/wallboard-browser/."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from browsertest import assert_accessible, log_in, wait_until
from chattest import ChatProcess, chat_env, fast_accounts, free_port, staff_login

from reports.db import make_engine, migrate
from reports.sink import Sink, SinkSettings
from reports.store import Store
from router.client import RouterClient
from router.keys import Keys
from router.model import AgentProfile, RequestState
from router.worker import Worker

pytestmark = [pytest.mark.browser, pytest.mark.redis, pytest.mark.slow]
STRATEGY = """
queues:
  booking: {skills: {booking: 1}, service_level: 20}
  billing: {skills: {billing: 1}, service_level: 20}
  sales: {skills: {sales: 1}}
rules:
  - {name: booking, conditions: service == "booking", actions: {queue: booking}}
  - {name: billing, conditions: service == "billing", actions: {queue: billing}}
"""


@pytest.fixture
def reports_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'reports.sqlite3'}"
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    return url


@pytest.fixture
def board_chat(redis_url: str, reports_url: str, tmp_path: Path) -> Iterator[ChatProcess]:
    server = ChatProcess(
        port=free_port(),
        env=chat_env(
            redis_url,
            tmp_path / "uploads",
            IMPLUS_CHAT_REPORTS_DATABASE_URL=reports_url,
            IMPLUS_CHAT_STATS_INTERVAL="1",
            IMPLUS_CHAT_WALLBOARD_HISTORY_INTERVAL="0.5",
        ),
        log=tmp_path / "chat.log",
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture
def sink(redis_url: str, reports_url: str) -> Iterator[Sink]:
    """`implus reports sink` in a thread, as the wall board's history expects it."""
    engine = make_engine(reports_url)
    s = Sink(
        redis.Redis.from_url(redis_url, decode_responses=True),
        Keys(),
        Store(engine, b"k"),
        SinkSettings(block_ms=100),
    )
    thread = threading.Thread(target=s.run, name="reports-sink", daemon=True)
    thread.start()
    yield s
    s.stop()
    thread.join(10)
    engine.dispose()


def cells(page: Any, selector: str) -> list[str]:
    return [c.strip() for c in page.locator(selector).locator("td").all_inner_texts()]


def wait_rows(page: Any, selector: str, want: Callable[[list[str]], bool]) -> None:
    """Until a row's cell texts satisfy ``want`` (polled from here: the page's CSP forbids
    the eval that page-side waiting needs)."""
    rows = page.locator(selector)
    try:
        wait_until(
            lambda: any(want(cells(page, f"{selector} >> nth={i}")) for i in range(rows.count())),
            what=f"a row of {selector} as wanted",
        )
    except AssertionError as e:
        raise AssertionError(f"{e}; the rows: {rows.all_inner_texts()}") from None


def console_error(problems: list[str], message: Any) -> None:
    if message.type == "error" and not message.location.get("url", "").endswith("/favicon.ico"):
        problems.append(f"{message.text} at {message.location.get('url')}")


def test_wallboard_live_drill_down_and_actions(
    browser: Any,
    board_chat: ChatProcess,
    redis_url: str,
    router_worker: Worker,
    sink: Sink,
    artifacts_dir: Path,
) -> None:
    shots = artifacts_dir / "wallboard-browser"
    shots.mkdir(exist_ok=True)
    router = RouterClient.from_url(redis_url)
    # the worker installs the built-in strategy when it starts and none is loaded: load
    # ours after that, or the built-in one could land on top of it
    wait_until(lambda: router.redis.hget(router.keys.strategy(), "version"), what="a strategy")
    router.load_strategy(STRATEGY)
    for agent, skill in (("alice", "booking"), ("bob", "billing")):
        router.upsert_agent(
            AgentProfile(
                id=agent, name=agent.title(), skills={skill: 1}, capacity={"voice": 1, "chat": 1}
            )
        )
        router.heartbeat(agent, ttl=600)  # their desktops are open
    assert router.set_status("alice", "available")
    assert router.set_status("bob", "away", "training")
    accounts = fast_accounts(redis_url)
    staff_login(accounts, "agent", "alice")
    staff_login(accounts, "admin", "boss")

    problems: list[str] = []
    context = browser.new_context(viewport={"width": 1400, "height": 1300})
    try:
        page = context.new_page()
        page.on("console", lambda m: console_error(problems, m))
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on(
            "response",
            lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None,
        )
        log_in(page, board_chat.url, "boss", role="admin")
        page.wait_for_url("**/supervisor")
        page.wait_for_selector("#link-state:has-text('live')")

        # Nothing happened yet: every queue x channel row is quiet and folded away.
        page.wait_for_selector("#queues .wb-fold:has-text('9 quiet rows folded away')")
        assert page.locator("#queues tr[data-queue]").count() == 0
        page.click("#queues .wb-fold button")
        page.wait_for_selector("#queues tr[data-queue='sales'][data-channel='voip']")
        assert page.locator("#queues tr[data-queue]").count() == 9
        page.click("#queues .wb-fold button:has-text('Fold them')")
        page.wait_for_selector("#queues tr[data-queue]", state="detached")
        page.wait_for_selector("#agents tr[data-agent='bob']:has-text('training')")
        page.locator("#wallboard").screenshot(path=str(shots / "1-quiet-board.png"))

        # A chat comes in and rings alice; she answers; a second one has to wait.
        first = router.submit("chat", "booking", "cust-1")
        page.wait_for_selector("#agents tr[data-agent='alice'] .wb-activity:has-text('Ringing')")
        offer = wait_until(lambda: router.agent_offers("alice"), what="alice's offer")[0]
        assert router.accept(offer.id, "alice")
        page.wait_for_selector("#agents tr[data-agent='alice'] .wb-activity:has-text('Busy')")
        second = router.submit("chat", "booking", "cust-2")
        wait_rows(page, "#queues tbody tr[data-queue='booking']", lambda c: c[1:3] == ["chat", "1"])
        assert page.locator("#queues tr[data-queue]").count() == 1  # only the busy row shows
        wait_rows(page, "#queues tbody tr[data-queue='booking']", lambda c: c[3] not in ("–", "0s"))
        page.wait_for_selector("#wb-tile-waiting .wb-value:has-text('1')")
        # the last hour follows from the reports database: one answered in booking
        wait_rows(
            page,
            "#queues tbody tr[data-queue='booking']",
            lambda c: c[5] == "100%" and c[7] == "1" and c[8] == "0",
        )
        page.wait_for_selector("#wb-chart-waiting .uplot canvas")
        page.wait_for_selector("#wb-chart-sl .uplot canvas")
        page.locator("#wallboard").screenshot(path=str(shots / "2-live-waiting.png"))

        # Drill down into booking/chat: cust-2 waits, alice serves the queue.
        page.click("#queues tr[data-queue='booking'] button.wb-queue-name")
        page.wait_for_selector("#wb-detail-h:has-text('booking · chat')")
        page.wait_for_selector(
            f"#wb-contacts tr[data-request='{second.request_id}']:has-text('cust-2')"
        )
        assert "waiting" in cells(page, f"#wb-contacts tr[data-request='{second.request_id}']")[3]
        page.wait_for_selector("#wb-queue-agents tr[data-agent='alice']:has-text('Busy')")
        assert page.locator("#wb-queue-agents tr[data-agent='bob']").count() == 0
        page.locator("#wb-detail").screenshot(path=str(shots / "3-drill-down.png"))
        assert_accessible(page, "the wall board with a queue drilled down")

        # Move cust-2 to billing; bob comes back from training and takes it.
        page.click(f"#wb-contacts tr[data-request='{second.request_id}'] button.wb-move")
        page.wait_for_selector("#wb-dialog[open]")
        page.select_option("#wb-move-target", "queue:billing")
        page.locator("#wb-dialog").screenshot(path=str(shots / "4-move-dialog.png"))
        assert_accessible(page, "the move dialog")
        page.click("#wb-dialog-ok")
        page.wait_for_selector("#wb-dialog", state="hidden")
        page.wait_for_selector("#wb-detail-status:has-text('moved to billing')")
        page.wait_for_selector("#wb-contacts:has-text('Nobody is waiting')")
        wait_rows(page, "#queues tbody tr[data-queue='billing']", lambda c: c[1:3] == ["chat", "1"])
        assert router.request(second.request_id).queues == ("billing",)
        assert router.set_status("bob", "available")
        page.wait_for_selector("#agents tr[data-agent='bob'] .wb-activity:has-text('Ringing')")
        assert router.accept(router.agent_offers("bob")[0].id, "bob")
        page.wait_for_selector("#agents tr[data-agent='bob'] .wb-activity:has-text('Busy')")
        wait_rows(page, "#queues tbody tr[data-queue='billing']", lambda c: c[7] == "1")
        assert router.complete(first.request_id)

        # Force alice away with a reason, then log her out (her desktop login ends too).
        page.click("#agents tr[data-agent='alice'] button.wb-set-away")
        page.click("#wb-dialog-ok")  # no reason: the browser asks for one, nothing is sent
        assert page.locator("#wb-dialog[open]").count() == 1
        page.fill("#wb-reason", "coaching")
        page.click("#wb-dialog-ok")
        page.wait_for_selector("#agents tr[data-agent='alice'] .wb-activity:has-text('Away')")
        page.wait_for_selector("#agents tr[data-agent='alice']:has-text('coaching')")
        assert router.agent("alice").reason == "coaching"
        page.locator("#wallboard").screenshot(path=str(shots / "5-forced-away.png"))
        page.click("#agents tr[data-agent='alice'] button.wb-log-out")
        page.check("#wb-sign-out")
        page.click("#wb-dialog-ok")
        page.wait_for_selector("#agents .wb-group:has-text('Logged out (1)')")
        page.wait_for_selector("#agents tr[data-agent='alice']", state="detached")  # folded
        page.click("#agents .wb-group button:has-text('Show them')")
        page.wait_for_selector("#agents tr[data-agent='alice'] .wb-activity:has-text('Logged out')")
        assert router.agent("alice").status.value == "offline"
        page.locator("#wallboard").screenshot(path=str(shots / "6-logged-out.png"))

        # What the supervisor did is in the reports.
        page.select_option("#report-kind", "supervisor-actions")
        page.click("#report-show")
        page.wait_for_selector("#report-table tbody tr:has-text('set offline')")
        actions = page.locator("#report-table tbody tr").all_inner_texts()
        assert [a.split("\t")[2] for a in actions] == ["set offline", "set away", "moved"], actions
        page.locator("#reports").screenshot(path=str(shots / "7-supervisor-actions.png"))
    finally:
        context.close()
    assert router.request(second.request_id).state is RequestState.ACCEPTED
    router.close()
    assert not problems, problems
