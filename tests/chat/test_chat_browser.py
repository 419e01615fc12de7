"""End to end in a real browser: Debian chromium driven by Playwright, against a real
`implus chat`, a real router worker and the real redis-server. Never skipped: without
chromium this fails and says how to install it (`make test` does)."""

from __future__ import annotations

import re
import struct
import time
import zlib
from pathlib import Path
from typing import Any

import pytest
from chattest import Stack

pytestmark = [pytest.mark.browser, pytest.mark.redis, pytest.mark.slow]


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A plain-coloured PNG (big enough to be seen in the screenshots)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def wait_rows(page: Any, selector: str, want: Any, timeout: float = 15) -> None:
    """Wait until a table row's cell texts satisfy ``want`` (polled from here: the pages'
    CSP forbids the eval that page-side waiting would need)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for row in page.locator(selector).all():
            if want([c.strip() for c in row.locator("td").all_inner_texts()]):
                return
        time.sleep(0.2)
    raise AssertionError(
        f"no row of {selector} as wanted: {page.locator(selector).all_inner_texts()}"
    )


def test_agent_and_customer_chat_in_the_browser(
    new_page: Any, stack: Stack, artifacts_dir: Path, tmp_path: Path
) -> None:
    shots = artifacts_dir / "chat-browser"
    shots.mkdir(exist_ok=True)
    # login alice / alice-password; her phone on a PBX makes "Call me" possible
    stack.agent("alice", pbx="ast1", endpoint="1001")
    token = stack.token("u-browser", ["booking"])
    url = stack.chat.url
    dialogs: list[str] = []

    # The agent logs in and goes available.
    agent = new_page()
    agent.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    agent.goto(url + "/login")
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
    customer = new_page()
    customer.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    customer.goto(f"{url}/chat?service=booking#token={token}")
    customer.fill("textarea.text", "Hi, my booking 4711 is wrong")
    customer.click("button.send")
    customer.wait_for_selector(".entry.me .meta:has-text('✓')")
    customer.fill("textarea.text", "<script>alert('xss')</script><img src=x onerror=alert(1)>")
    customer.click("button.send")
    image = tmp_path / "screenshot.png"
    image.write_bytes(png(64, 48, (230, 120, 20)))
    customer.set_input_files("input.file", str(image))
    customer.wait_for_selector(".entry.me img.image")
    customer.screenshot(path=str(shots / "2-customer-sent.png"))

    # The agent accepts the offer, sees text and image, replies.
    agent.wait_for_selector(".offer button.accept")
    countdown = agent.locator(".offer .countdown").inner_text()
    assert re.fullmatch(r"\d+s", countdown) and 0 < int(countdown[:-1]) <= 20, countdown
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
    assert customer.locator(".entry.me img.image").count() == 1
    customer.screenshot(path=str(shots / "5-customer-after-reload.png"))

    # "Call me": a phone callback in the same session, visible on the agent's timeline.
    customer.click("button.callme-toggle")
    customer.fill("input.call-number", "+49 30 1234567")
    customer.click("button.call-btn")
    customer.wait_for_selector(".entry.me:has-text('call me at') .meta:has-text('✓')")
    agent.wait_for_selector(".timeline .entry.callback:has-text('+49301234567')")
    agent.screenshot(path=str(shots / "6-agent-callback-requested.png"))

    # The supervisor sees alice with one chat and the callback waiting for a phone.
    supervisor = new_page()
    supervisor.goto(url + "/login")
    supervisor.fill("#username", "root")
    supervisor.fill("#password", "root-password")
    supervisor.check("input[name=role][value=admin]")
    supervisor.click("#login-submit")
    supervisor.wait_for_url("**/supervisor")
    supervisor.wait_for_selector("#agents tr[data-agent='alice']:has-text('chat 1/3')")
    wait_rows(supervisor, "#queues tbody tr", lambda cells: cells[1:3] == ["voice", "1"])
    supervisor.screenshot(path=str(shots / "7-supervisor.png"))
    assert dialogs == []  # no script ran
