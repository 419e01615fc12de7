"""The customer's widget in a real browser (Debian chromium via Playwright) against a real
`implus chat`, router worker and redis-server: the launcher bubble, the greeting, a real
minimise, a phone-sized layout, "Call me" only with a phone channel, the upload limit in
words, and a site that may not embed the chat told why. Then axe-core's accessibility
check on every page (no serious or critical violation). Screenshots in
test-artifacts/widget/."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from browsertest import assert_accessible, desktop, log_in, wait_until
from chattest import STACK_ENV, ChatProcess, Stack, chat_env, free_port

pytestmark = [pytest.mark.browser, pytest.mark.redis, pytest.mark.slow]

PHONE = {"width": 375, "height": 667}


@pytest.fixture
def shots(artifacts_dir: Path) -> Path:
    folder = artifacts_dir / "widget"
    folder.mkdir(exist_ok=True)
    return folder


class Shop:
    """A shop's web server on its own loopback port: its page embeds the widget with one
    script tag, with the customer token its backend got (here: from the query string)."""

    def __init__(self) -> None:
        shop = self

        class Page(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                token = parse_qs(urlsplit(self.path).query).get("token", [""])[0]
                body = (
                    '<!doctype html><html lang=en><head><meta name="viewport" '
                    'content="width=device-width, initial-scale=1"><title>Shop</title></head>'
                    "<body><main><h1>Shop</h1><p>Our products.</p></main>"
                    f'<script src="{shop.chat_url}/static/widget.js" data-service="booking" '
                    f'data-token="{token}"></script></body></html>'
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Page)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.chat_url = ""
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def shops() -> Iterator[tuple[Shop, Shop]]:
    """Two shops: the first is in the chat service's allowed_origins, the second is not."""
    pair = (Shop(), Shop())
    yield pair
    for shop in pair:
        shop.close()


@pytest.fixture(scope="module")
def chat_a(
    redis_server: Any, stack_folder: Path, shops: tuple[Shop, Shop]
) -> Iterator[ChatProcess]:
    """The stack's chat service, allowing the first shop's origin."""
    server = ChatProcess(
        port=free_port(),
        env=chat_env(
            redis_server.url,
            stack_folder / "uploads",
            **STACK_ENV,
            IMPLUS_CHAT_ALLOWED_ORIGINS=shops[0].origin,
        ),
        log=stack_folder / "chat-widget.log",
    )
    server.start()
    for shop in shops:
        shop.chat_url = server.url
    yield server
    server.stop()


def shop_page(browser: Any, shop: Shop, token: str, **context: Any) -> Any:
    page = browser.new_context(**context).new_page()
    page.goto(f"{shop.origin}/?token={token}")
    return page


def shadow(page: Any, selector: str) -> Any:
    return page.locator(f".implus-widget-host >> {selector}")


def test_launcher_greeting_minimise_and_phone_layout(
    new_page: Any, browser: Any, stack: Stack, shots: Path, shops: tuple[Shop, Shop]
) -> None:
    stack.agent("alice")  # no phone on a PBX: "Call me" cannot work, so it is not offered
    page = shop_page(browser, shops[0], stack.token("u-phone", ["booking"]), viewport=PHONE,
                     is_mobile=True, has_touch=True)  # fmt: skip
    ctx = page.context
    launcher = shadow(page, "button.launcher")
    launcher.wait_for()
    box = shadow(page, "section.box")
    assert not box.is_visible()  # starts as a bubble, not 78% of the screen
    page.screenshot(path=str(shots / "1-phone-launcher.png"))
    launcher.click()
    box.wait_for()
    size = box.bounding_box()
    assert size is not None and (round(size["width"]), round(size["height"])) == (375, 667)
    shadow(page, "textarea.text").wait_for()
    assert "How can we help" in shadow(page, ".entry.greeting").inner_text()
    assert not shadow(page, ".callme-box").is_visible()
    # every control fits the phone's width
    for selector in (
        "textarea.text",
        "button.send",
        "label.attach",
        "button.emoji-btn",
        "button.minimise",
    ):
        b = shadow(page, selector).bounding_box()
        assert b is not None and b["x"] >= 0 and b["x"] + b["width"] <= 375, (selector, b)
    shadow(page, "textarea.text").fill("Hello from my phone")
    shadow(page, "button.send").click()
    shadow(page, ".entry.me:has-text('Hello from my phone') .meta:has-text('✓')").wait_for()
    page.screenshot(path=str(shots / "2-phone-open.png"))
    shadow(page, "button.minimise").click()
    assert not box.is_visible() and launcher.is_visible()
    assert launcher.get_attribute("aria-expanded") == "false"
    page.screenshot(path=str(shots / "3-phone-minimised.png"))
    # the agent answers while the chat is minimised: the bubble counts it
    agent = desktop(new_page(), stack.chat.url, "alice")
    agent.click(".offer button.accept")
    agent.fill(".reply-text", "Hi, how can I help?")
    agent.press(".reply-text", "Enter")
    badge = shadow(page, "button.launcher .badge")
    wait_until(lambda: badge.is_visible() and badge.inner_text() == "1", what="the unread badge")
    page.screenshot(path=str(shots / "4-phone-unread-badge.png"))
    launcher.click()
    shadow(page, ".entry.agent:has-text('how can I help')").wait_for()
    assert not badge.is_visible()
    ctx.close()


def test_call_me_only_with_a_phone_channel_and_uploads_say_the_limit(
    browser: Any, stack: Stack, shots: Path, tmp_path: Path
) -> None:
    stack.agent("alice", pbx="sandbox", endpoint="1001")  # a phone: callbacks can be placed
    ctx = browser.new_context()
    page = ctx.new_page()
    page.goto(f"{stack.chat.url}/chat?service=booking#token={stack.token('u-up', ['booking'])}")
    shadow(page, "button.callme-toggle").wait_for()
    shadow(page, "button.callme-toggle").click()
    assert shadow(page, "input.call-number").is_visible()
    big = tmp_path / "scan.pdf"
    big.write_bytes(b"%PDF-1.4\n" + b"0" * (6 * 1024 * 1024))  # 6 MB, the limit is 5 MB
    shadow(page, "input.file").set_input_files(str(big))
    error = shadow(page, "p.error")
    error.wait_for()
    assert error.inner_text() == "The file is larger than the 5 MB limit: send a smaller one."
    page.screenshot(path=str(shots / "5-upload-limit.png"))
    ctx.close()


def test_a_widget_whose_config_cannot_be_read_says_so_and_tries_again(
    browser: Any, stack: Stack
) -> None:
    """The service restarting behind a proxy: /widget/config answers 502 (an HTML page)
    twice. The widget says it cannot reach the service and tries again by itself, then
    works - before, it said "Try again later" and stayed dead until a reload."""
    ctx = browser.new_context()
    page = ctx.new_page()
    refused: list[str] = []

    def proxy(route: Any) -> None:
        if len(refused) < 2:
            refused.append(route.request.url)
            route.fulfill(status=502, content_type="text/html", body="<h1>502 Bad Gateway</h1>")
        else:
            route.continue_()

    page.route("**/widget/config*", proxy)
    page.goto(f"{stack.chat.url}/chat?service=booking#token={stack.token('u-cfg', ['booking'])}")
    error = shadow(page, "p.error")
    error.wait_for()
    assert "cannot be reached right now; trying again in 1 s" in error.inner_text()
    shadow(page, ".state:has-text('we usually answer within minutes')").wait_for(timeout=15_000)
    assert len(refused) == 2 and error.inner_text() == ""
    shadow(page, "textarea.text").fill("hello after the restart")
    shadow(page, "button.send").click()
    shadow(page, ".entry.me:has-text('hello after the restart') .meta:has-text('✓')").wait_for()
    ctx.close()


def test_a_site_that_may_not_embed_the_chat_is_told_why(
    browser: Any, stack: Stack, shots: Path, shops: tuple[Shop, Shop]
) -> None:
    other = shops[1].origin  # not in allowed_origins
    page = shop_page(browser, shops[1], stack.token("u-x", ["booking"]))
    error = shadow(page, "p.error")
    launcher = shadow(page, "button.launcher")
    launcher.wait_for()
    launcher.click()
    error.wait_for()
    text = error.inner_text()
    assert f"({other})" in text and "allowed_origins" in text, text
    assert "reconnecting" not in shadow(page, ".state").inner_text()
    page.screenshot(path=str(shots / "6-origin-not-allowed.png"))
    page.context.close()


def test_no_serious_accessibility_violations(
    new_page: Any, browser: Any, stack: Stack, shots: Path, shops: tuple[Shop, Shop]
) -> None:
    stack.agent("alice", pbx="sandbox", endpoint="1001")
    token = stack.token("u-a11y", ["booking"])
    page = new_page()
    page.goto(stack.chat.url + "/login")
    assert_accessible(page, "login")
    page.goto(stack.chat.url + "/api/docs")
    assert_accessible(page, "API reference")
    # the widget, open, inline and floating, with a conversation going on
    widget = new_page()
    widget.goto(f"{stack.chat.url}/chat?service=booking#token={token}")
    widget.fill("textarea.text", "accessible?")
    widget.click("button.send")
    agent = desktop(new_page(), stack.chat.url, "alice")
    agent.click(".offer button.accept")
    agent.fill(".reply-text", "Yes, and readable")
    agent.press(".reply-text", "Enter")
    widget.wait_for_selector(".entry.agent:has-text('readable')")
    widget.click("button.callme-toggle")
    assert_accessible(widget, "customer chat page")
    shop = shop_page(browser, shops[0], token)
    shadow(shop, "button.launcher").click()
    shadow(shop, ".entry.agent:has-text('readable')").wait_for()
    assert_accessible(shop, "a shop page with the floating widget open")
    shop.context.close()
    demo = new_page()
    demo.goto(stack.chat.url + "/demo")
    shadow(demo, "button.launcher").wait_for()
    assert_accessible(demo, "demo page")
    # the desktop with a conversation, its customer context, and its dialogs
    agent.wait_for_selector(".session .customer-facts dl")
    assert_accessible(agent, "agent desktop")
    agent.click(".open-transfer")
    agent.wait_for_selector("#transfer-dialog .targets fieldset")
    assert_accessible(agent, "transfer dialog")
    agent.keyboard.press("Escape")
    agent.click(".open-close")
    assert_accessible(agent, "close dialog")
    agent.keyboard.press("Escape")
    agent.screenshot(path=str(shots / "7-desktop-checked.png"), full_page=True)
    sup = new_page()
    log_in(sup, stack.chat.url, "root", role="admin")
    sup.wait_for_url("**/supervisor")
    sup.wait_for_selector("#agents tr[data-agent='alice']")
    assert_accessible(sup, "supervisor")
    sup.screenshot(path=str(shots / "8-supervisor.png"), full_page=True)
