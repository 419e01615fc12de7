"""End to end in a real browser: Debian chromium driven by Playwright, against a real
`implus chat`, a real router worker and the real redis-server. Never skipped: without
chromium this fails and says how to install it (`make test` does)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chattest import ChatProcess, api

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
PNG_1PX = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201e2b5c1f60000000049454e44ae426082"
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        pytest.fail("chromium is not installed: run `make test` (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


def test_agent_and_customer_chat_in_the_browser(
    browser: Any,
    chat_stack: ChatProcess,
    stack_admin: tuple[str, str],
    artifacts_dir: Path,
    tmp_path: Path,
) -> None:
    shots = artifacts_dir / "chat-browser"
    shots.mkdir(exist_ok=True)
    status, body = api(
        chat_stack,
        "POST",
        "/api/auth/token",
        {"username": stack_admin[0], "password": stack_admin[1], "role": "admin"},
    )
    admin = body["token"]
    status, body = api(
        chat_stack,
        "PUT",
        "/api/agents/alice",
        {
            "name": "Alice",
            "skills": {"booking": 5},
            "capacity": {"voice": 1, "chat": 3},
            "password": "alice-password",
        },
        bearer=admin,
    )
    assert status == 200, body
    status, body = api(
        chat_stack,
        "POST",
        "/api/customer-tokens",
        {"user_id": "u-browser", "services": ["booking"]},
        bearer=admin,
    )
    token = body["token"]
    dialogs: list[str] = []

    # The agent logs in and goes available.
    agent = browser.new_context().new_page()
    agent.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    agent.goto(chat_stack.url + "/login")
    agent.fill("#username", "alice")
    agent.fill("#password", "alice-password")
    agent.click("#login-submit")
    agent.wait_for_url("**/agent")
    agent.wait_for_selector("#link-state:has-text('online')")
    agent.select_option("#status-select", "available")
    agent.click("#status-apply")
    agent.wait_for_selector("#status-now:has-text('available')")
    agent.screenshot(path=str(shots / "1-agent-available.png"))

    # The customer opens the chat and sends text, a script payload and an image.
    customer = browser.new_context().new_page()
    customer.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    customer.goto(f"{chat_stack.url}/chat?service=booking#token={token}")
    customer.fill("textarea.text", "Hi, my booking 4711 is wrong")
    customer.click("button.send")
    customer.wait_for_selector(".entry.me .meta:has-text('✓')")
    customer.fill("textarea.text", "<script>alert('xss')</script><img src=x onerror=alert(1)>")
    customer.click("button.send")
    image = tmp_path / "screenshot.png"
    image.write_bytes(PNG_1PX)
    customer.set_input_files("input.file", str(image))
    customer.wait_for_selector(".entry.me img.image")
    customer.screenshot(path=str(shots / "2-customer-sent.png"))

    # The agent accepts the offer, sees text and image, replies.
    agent.wait_for_selector(".offer button.accept")
    agent.screenshot(path=str(shots / "3-agent-offer.png"))
    agent.click(".offer button.accept")
    agent.wait_for_selector(".timeline .entry.customer:has-text('booking 4711')")
    agent.wait_for_selector(".timeline .entry.customer img")
    assert agent.locator(".timeline .entry.customer:has-text('<script>')").count() == 1
    agent.fill(".reply-text", "Hello from Alice, let me check")
    agent.click("button.send")
    agent.wait_for_selector(".timeline .entry.agent:has-text('Hello from Alice')")
    agent.screenshot(path=str(shots / "4-agent-timeline.png"))

    # The customer sees the reply; after a reload the history is intact, once.
    customer.wait_for_selector(".entry.agent:has-text('Hello from Alice')")
    customer.reload()
    customer.wait_for_selector(".entry.agent:has-text('Hello from Alice')")
    customer.wait_for_selector(".entry.me img.image")
    assert customer.locator(".entry.me:has-text('booking 4711')").count() == 1
    assert customer.locator(".entry.me:has-text('<script>')").count() == 1  # shown as text
    customer.screenshot(path=str(shots / "5-customer-after-reload.png"))
    assert dialogs == []  # no script ran
