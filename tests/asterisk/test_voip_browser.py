"""Browser VoIP end to end (docs/voip.md): Debian chromium with fake media, SIP.js through
the chat service's relay into the sandbox Asterisk's WebSocket transport, the real AMI
bridge and router. Media really flows: RTP counted by the browser's getStats() and by
Asterisk (`pjsip show channelstats`)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from callcentre import CallCentre, wait_for
from voipcentre import (
    CHROMIUM,
    MEDIA_ARGS,
    agent_login,
    asterisk_rtp,
    keep_logs,
    open_desktop,
    start_chat,
    wait_media,
)

from devstack.lab import LabAgent, LabEntry
from router.model import RequestState

pytestmark = [pytest.mark.asterisk, pytest.mark.browser, pytest.mark.slow]

VOIP = "810"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        pytest.fail("chromium is not installed: run `make test` (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=MEDIA_ARGS)
        yield b
        b.close()


@pytest.fixture
def pages(browser: Any) -> Iterator[Any]:
    contexts: list[Any] = []

    def make() -> Any:
        contexts.append(browser.new_context())
        return contexts[-1].new_page()

    yield make
    for context in contexts:
        context.close()


def voip_centre(call_centre: CallCentre, agents: list[LabAgent]) -> CallCentre:
    call_centre.lab.agents = agents
    call_centre.lab.entries = [
        LabEntry("booking_line", "800", "booking"),
        LabEntry("booking_voip", VOIP, "booking", media="voip"),
    ]
    call_centre.start(offer_timeout=15)
    return call_centre


def customer_chat(page: Any, url: str, user: str) -> None:
    """The demo page's widget: log in as `user`, send a message (opens the session)."""
    page.goto(url + "/chat?service=booking")
    page.fill("input.user-id", user)
    page.click("button.start")
    page.wait_for_selector("button.voip-call-us:visible")
    page.fill("textarea.text", "Hello, I need help with my booking")
    page.click("button.send")
    page.wait_for_selector(".entry.me .meta:has-text('✓')")


def test_call_us_joins_the_chat_session_and_rings_the_sip_phone(
    call_centre: CallCentre, pages: Any, redis_url: str, tmp_path: Path, artifacts_dir: Path
) -> None:
    shots = artifacts_dir / "voip"
    shots.mkdir(exist_ok=True)
    c = voip_centre(call_centre, [LabAgent("alice", "1001", 5091, {"booking": 3})])
    phone = c.sipp.phone(5091, "answer", ring=0.3, talk=None, rtp_echo=6021)
    c.qualify("1001")
    chat = start_chat(redis_url, c.lab.config_path, tmp_path)
    try:
        desk = pages()
        open_desktop(desk, chat.url, "alice", agent_login(redis_url, "alice"))
        c.wait_phone("alice", "available")
        customer = pages()
        customer_chat(customer, chat.url, "u77")
        desk.click(".offer[data-channel='chat'] button.accept")
        desk.wait_for_selector(".timeline .entry:has-text('my booking')")
        session = c.client.open_session("u77", "booking")
        assert session is not None and session.owner == "alice"

        customer.click("button.voip-call-us")
        try:
            customer.wait_for_selector(".voip[data-state='connected']", timeout=20000)
        except Exception:
            customer.screenshot(path=str(shots / "1-customer-failed.png"))
            raise AssertionError(customer.locator(".voip").inner_text()) from None
        sent, received = wait_media(customer, ".voip")
        stats = asterisk_rtp(c.box)
        customer.screenshot(path=str(shots / "1-customer-in-call.png"))
        desk.screenshot(path=str(shots / "1-agent-desktop.png"))

        # The call is a voip request in the SAME session, offered to the chat's agent.
        requests = c.client.session_requests(session.id)
        voip = [r for r in requests if r.channel.value == "voip"]
        assert len(voip) == 1, requests
        assert voip[0].agent == "alice" and voip[0].state is RequestState.ACCEPTED
        assert "PJSIP/implus-webrtc-customers" in stats and "PJSIP/1001" in stats, stats

        customer.click("button.voip-hangup")
        customer.wait_for_selector(".voip[data-state='ended']")
        hangups = wait_for(
            "the hang-up in the transcript",
            lambda: [e for e in c.client.transcript(session.id) if e["type"] == "call.hangup"],
        )
        assert float(hangups[0].get("duration_s", 0)) > 0, hangups
        desk.wait_for_selector(".timeline .entry:has-text('hung up')")
        customer.wait_for_selector(".entry:has-text('Call ended')")
        assert sent >= 25 and received >= 25
    finally:
        keep_logs(tmp_path, shots / "call-us-sip", c.box)
        chat.stop()
        phone.stop()
