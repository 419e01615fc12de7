"""Fixtures for the chat service: settings, the Flask app on the real redis-server, and a
real `implus chat` process (gunicorn + gevent) for websocket tests."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chattest import (
    SECRET,
    STACK_ENV,
    ChatProcess,
    Stack,
    chat_env,
    fast_accounts,
    free_port,
    staff_login,
)
from flask import Flask
from flask.testing import FlaskClient

from chat.accounts import AccountStore, Role
from chat.app import create_app
from chat.keys import ChatKeys
from router.client import RouterClient
from router.worker import Worker


@pytest.fixture
def chat_config(redis_url: str, tmp_path: Path) -> dict[str, Any]:
    return {
        "secret_key": SECRET,
        "redis_url": redis_url,
        "upload_dir": str(tmp_path / "uploads"),
        "upload_max_bytes": 200_000,
    }


@pytest.fixture
def app(chat_config: dict[str, Any]) -> Iterator[Flask]:
    application = create_app(chat_config, start_background=False)
    application.config["TESTING"] = True
    return application


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def accounts(rds: Any, redis_url: str) -> AccountStore:
    import redis

    return AccountStore(redis.Redis.from_url(redis_url), ChatKeys("default"))


@pytest.fixture
def admin(accounts: AccountStore) -> tuple[str, str]:
    accounts.set_password(Role.ADMIN, "root", "admin-password-1")
    return "root", "admin-password-1"


@pytest.fixture(scope="module")
def chat_server(
    redis_server: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ChatProcess]:
    """One `implus chat` process per test module (starting one takes a few seconds)."""
    tmp_path = tmp_path_factory.mktemp("chat")
    server = ChatProcess(
        port=free_port(),
        env=chat_env(
            redis_server.url,
            tmp_path / "uploads",
            IMPLUS_CHAT_ALLOWED_ORIGINS="https://shop.example",
            IMPLUS_CHAT_MAX_FRAME_BYTES="4096",
            IMPLUS_CHAT_HARD_FRAME_BYTES="65536",
            IMPLUS_CHAT_PING_INTERVAL="1",
        ),
        log=tmp_path / "chat.log",
    )
    server.start()
    yield server
    server.stop()


CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        pytest.fail("chromium is not installed: run `make test` (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


PAGE_LOG = pytest.StashKey[list[str]]()
"""What the test's pages said (console, page errors, failed requests, websockets closing),
shown with a failed test's report."""


@pytest.fixture
def new_page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """Pages in their own browser contexts (own cookies), closed after the test."""
    contexts: list[Any] = []
    said = request.node.stash.setdefault(PAGE_LOG, [])

    def make() -> Any:
        contexts.append(browser.new_context())
        page = contexts[-1].new_page()
        n = len(contexts)
        page.on("console", lambda m: said.append(f"page {n} console {m.type}: {m.text}"))
        page.on("pageerror", lambda e: said.append(f"page {n} error: {e}"))
        page.on(
            "response",
            lambda r: r.status >= 400 and said.append(f"page {n} got {r.status}: {r.url}"),
        )
        page.on(
            "requestfailed",
            lambda r: said.append(f"page {n} request failed: {r.url} {r.failure}"),
        )
        page.on(
            "websocket",
            lambda ws: ws.on(
                "close", lambda _: said.append(f"page {n} websocket closed: {ws.url}")
            ),
        )
        return page

    yield make
    for context in contexts:
        context.close()


def stack_process(redis_url: str, folder: Path, name: str) -> ChatProcess:
    """An `implus chat` process for router-backed tests; instances share one upload folder."""
    return ChatProcess(
        port=free_port(),
        env=chat_env(redis_url, folder / "uploads", **STACK_ENV),
        log=folder / f"{name}.log",
    )


@pytest.fixture(scope="module")
def stack_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("stack")


@pytest.fixture(scope="module")
def chat_a(redis_server: Any, stack_folder: Path) -> Iterator[ChatProcess]:
    """One `implus chat` per test module; tests get a flushed Redis (see `stack`)."""
    server = stack_process(redis_server.url, stack_folder, "chat-a")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def chat_b(redis_server: Any, stack_folder: Path) -> Iterator[ChatProcess]:
    """A second instance on the same Redis and upload folder (another machine, say)."""
    server = stack_process(redis_server.url, stack_folder, "chat-b")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def router_client(redis_url: str) -> Iterator[RouterClient]:
    client = RouterClient.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def router_worker(redis_url: str) -> Iterator[Worker]:
    """A real allocation worker (router.worker.Worker) on the test's Redis, in a thread."""
    worker = Worker(RouterClient.from_url(redis_url), name="test-worker")
    thread = threading.Thread(target=worker.run, name="router-worker", daemon=True)
    thread.start()
    yield worker
    worker.stop()
    thread.join(10)
    worker.client.close()
    assert not thread.is_alive(), "the router worker did not stop"


@pytest.fixture
def stack(
    chat_a: ChatProcess, router_worker: Worker, router_client: RouterClient, redis_url: str
) -> Iterator[Stack]:
    """The chat service, a router worker and the router client on an empty database."""
    accounts = fast_accounts(redis_url)
    s = Stack(chat_a, router_client, accounts, staff_login(accounts, "admin", "root"))
    yield s
    s.close_all()


def _chat_processes(item: pytest.Item) -> list[ChatProcess]:
    found: list[ChatProcess] = []
    for value in getattr(item, "funcargs", {}).values():
        for candidate in (value, getattr(value, "chat", None)):
            if isinstance(candidate, ChatProcess) and candidate not in found:
                found.append(candidate)
    return found


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failed browser or stack test shows the chat service's last log lines and what its
    pages said: a failure seen once in CI must be explainable from its report alone."""
    outcome: Any = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    for process in _chat_processes(item):
        if process.log is not None and process.log.exists():
            tail = process.log.read_text(errors="replace").splitlines()[-80:]
            report.sections.append((f"implus chat log ({process.log.name})", "\n".join(tail)))
    said = item.stash.get(PAGE_LOG, [])
    if said:
        report.sections.append(("what the pages said", "\n".join(said[-120:])))
