"""Browser VoIP end to end (docs/voip.md): Debian chromium with fake media, SIP.js through
the chat service's relay into the sandbox Asterisk's WebSocket transport, the real AMI
bridge and router. Media really flows: RTP counted by the browser's getStats() and by
Asterisk (`pjsip show channelstats`)."""

from __future__ import annotations

import json
import shutil
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from callcentre import CallCentre, wait_for
from voipcentre import (
    CHROMIUM,
    MEDIA_ARGS,
    agent_login,
    both_ways,
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
        both_ways(c.box, "implus-webrtc-cust", "1001-")
        customer.screenshot(path=str(shots / "1-customer-in-call.png"))
        desk.screenshot(path=str(shots / "1-agent-desktop.png"))

        # The call is a voip request in the SAME session, offered to the chat's agent.
        requests = c.client.session_requests(session.id)
        voip = [r for r in requests if r.channel.value == "voip"]
        assert len(voip) == 1, requests
        assert voip[0].agent == "alice" and voip[0].state is RequestState.ACCEPTED

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


def test_inbound_phone_call_is_answered_in_the_browser_softphone(
    call_centre: CallCentre, pages: Any, redis_url: str, tmp_path: Path, artifacts_dir: Path
) -> None:
    shots = artifacts_dir / "voip"
    shots.mkdir(exist_ok=True)
    c = voip_centre(call_centre, [LabAgent("dave", "3001", 0, {"booking": 3}, phone="webrtc")])
    chat = start_chat(redis_url, c.lab.config_path, tmp_path)
    caller = None
    try:
        desk = pages()
        open_desktop(desk, chat.url, "dave", agent_login(redis_url, "dave"))
        desk.wait_for_selector(".softphone[data-state='ready']", timeout=15000)
        c.wait_phone("dave", "available")  # presence from the browser's registration
        caller = c.sipp.customer_call("800", caller="5557001", hold=None, rtp_echo=6031)
        desk.wait_for_selector(".softphone[data-state='ringing']", timeout=15000)
        desk.screenshot(path=str(shots / "3-softphone-ringing.png"))
        desk.click("button.softphone-answer")
        desk.wait_for_selector(".softphone[data-state='connected']")
        wait_media(desk, ".softphone")
        both_ways(c.box, "3001-", "customers-")
        request = c.request_for("5557001")
        c.wait_request(request.id, RequestState.ACCEPTED)
        assert c.client.request(request.id).agent == "dave"
        desk.screenshot(path=str(shots / "3-softphone-connected.png"))
        desk.click("button.softphone-hold")
        desk.wait_for_selector(".softphone[data-held='true']")
        desk.click("button.softphone-hold")
        desk.wait_for_selector(".softphone[data-held='false']")
        desk.click("button.softphone-hangup")
        desk.wait_for_selector(".softphone[data-state='ready']")
        assert caller.wait(20).ok
        hangups = wait_for(
            "the hang-up in the transcript",
            lambda: [
                e for e in c.client.transcript(request.session_id) if e["type"] == "call.hangup"
            ],
        )
        assert float(hangups[0].get("duration_s", 0)) > 0
        # Closing the desktop unregisters the softphone: no more calls offered to dave.
        desk.context.close()
        c.wait_phone("dave", "offline", timeout=20)
    finally:
        keep_logs(tmp_path, shots / "softphone", c.box)
        chat.stop()
        if caller is not None:
            caller.stop()


def test_refusals(
    call_centre: CallCentre, redis_url: str, tmp_path: Path, artifacts_dir: Path
) -> None:
    """No token, a token of another service, a used ticket, other numbers, REGISTER - and
    the PBX side on its own: even with the relay's secret, implus-webrtc reaches only the
    VoIP entry point."""
    import websocket

    from admin_config import webrtc as w
    from chat.sip_relay import RelayCore
    from devstack.lab import RELAY_SECRET

    c = voip_centre(call_centre, [LabAgent("alice", "1001", 5091, {"booking": 3})])
    chat = start_chat(redis_url, c.lab.config_path, tmp_path)
    try:
        base = chat.url
        status, body = post(base + "/widget/voip?service=booking", None)
        assert status == 401 and "customer token" in body["message"]
        billing_only = demo_token(base, "u80", ["billing"])
        status, body = post(base + "/widget/voip?service=booking", billing_only)
        assert status == 403 and "not valid for service 'booking'" in body["message"]
        status, body = post(base + "/widget/voip?service=billing", billing_only)
        assert status == 400 and body["error"] == "voip_unavailable", body
        token = demo_token(base, "u80", [])
        status, line = post(base + "/widget/voip?service=booking", token)
        assert status == 200 and line["numbers"] == [VOIP] and "password" not in json.dumps(line)
        ws_base = chat.ws_url
        with pytest.raises(websocket.WebSocketBadStatusException) as e:
            websocket.create_connection(
                ws_base + "/ws/sip/customer?ticket=forged", subprotocols=["sip"]
            )
        assert e.value.status_code == 401
        ws = websocket.create_connection(ws_base + line["ws"], subprotocols=["sip"], timeout=10)
        with pytest.raises(websocket.WebSocketBadStatusException):
            websocket.create_connection(ws_base + line["ws"], subprotocols=["sip"])  # used
        for method, number in (
            ("INVITE", "1001"),
            ("INVITE", "800"),
            ("INVITE", "9990"),
            ("REGISTER", VOIP),
        ):
            ws.send(raw_request(method, number, w.CUSTOMER_ENDPOINT))
            reply = ws.recv()
            assert reply.startswith("SIP/2.0 403 Forbidden"), reply
        ws.close()

        # Straight to Asterisk's WebSocket with the customers' own credentials (what a
        # compromised relay could do): 1001 and 800 do not exist in implus-webrtc.
        core = RelayCore(
            "customer", w.CUSTOMER_ENDPOINT, w.customers_secret(RELAY_SECRET),
            numbers=frozenset({"1001", "800"}), user_id="u80", service="booking",
        )  # fmt: skip
        pbx = websocket.create_connection(
            "ws://127.0.0.1:8088/ws", subprotocols=["sip"], timeout=10
        )
        for number in ("1001", "800"):
            finals = exchange(
                pbx, core, raw_request("INVITE", number, w.CUSTOMER_ENDPOINT, sdp=True)
            )
            assert finals and finals[-1].split()[1] in ("403", "404", "488"), finals
        pbx.close()
    finally:
        keep_logs(tmp_path, artifacts_dir / "voip" / "refusals", c.box)
        chat.stop()


def post(url: str, token: str | None) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=b"{}", headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def demo_token(base: str, user: str, services: list[str]) -> str:
    """A signed customer token (demo mode mints for any user; scoped like the real API)."""
    from chattest import SECRET

    from chat.tokens import TokenSigner

    return TokenSigner(SECRET.encode(), 3600, 3600).customer_token(user, tuple(services))


def raw_request(method: str, number: str, user: str, sdp: bool = False) -> str:
    body = (
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        "m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
        if sdp
        else ""
    )
    cid = uuid.uuid4().hex
    lines = [
        f"{method} sip:{number}@implus.invalid SIP/2.0",
        f"Via: SIP/2.0/WS test.invalid;branch=z9hG4bK{cid[:12]}",
        "Max-Forwards: 70",
        f"To: <sip:{number}@implus.invalid>",
        f"From: <sip:{user}@implus.invalid>;tag={cid[:8]}",
        f"Call-ID: {cid}",
        f"CSeq: 1 {method}",
        "Contact: <sip:x@test.invalid;transport=ws>",
        *(["Content-Type: application/sdp"] if sdp else []),
        f"Content-Length: {len(body)}",
    ]
    return "\r\n".join(lines) + "\r\n\r\n" + body


def exchange(pbx: Any, core: Any, text: str) -> list[str]:
    """Send through the relay's rules, answer challenges, return the final responses."""
    finals: list[str] = []
    pending = [t for _, t in core.from_browser(text)]
    for t in pending:
        pbx.send(t)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not finals:
        msg = pbx.recv()
        for dest, out in core.from_pbx(msg):
            if dest == "pbx":
                pbx.send(out)
            elif out.startswith("SIP/2.0 ") and int(out.split()[1]) >= 200:
                finals.append(out.split("\r\n", 1)[0])
    return finals


def test_voip_callback_rings_the_widget_and_the_softphone_answers(
    call_centre: CallCentre, pages: Any, redis_url: str, tmp_path: Path, artifacts_dir: Path
) -> None:
    """The agent's "VoIP call" rings the online widget; the customer accepts; the call
    comes back to the same agent's softphone (known agent) - browser to browser through
    Asterisk, RTP both ways in both browsers."""
    shots = artifacts_dir / "voip"
    shots.mkdir(exist_ok=True)
    c = voip_centre(call_centre, [LabAgent("dave", "3001", 0, {"booking": 3}, phone="webrtc")])
    chat = start_chat(redis_url, c.lab.config_path, tmp_path)
    try:
        desk = pages()
        open_desktop(desk, chat.url, "dave", agent_login(redis_url, "dave"))
        desk.wait_for_selector(".softphone[data-state='ready']", timeout=15000)
        c.wait_phone("dave", "available")
        customer = pages()
        customer_chat(customer, chat.url, "u78")
        desk.click(".offer[data-channel='chat'] button.accept")
        desk.wait_for_selector(".timeline .entry:has-text('my booking')")
        session = c.client.open_session("u78", "booking")
        assert session is not None

        desk.click(".session button.voip-call")
        customer.wait_for_selector(".voip-ring:visible")
        assert "is calling you" in customer.locator(".voip-ring").inner_text()
        desk.wait_for_selector(".voip-call-result:has-text('Ringing in the customer')")
        customer.screenshot(path=str(shots / "2-customer-incoming.png"))
        customer.click("button.voip-accept")
        desk.wait_for_selector(".softphone[data-state='ringing']", timeout=15000)
        desk.click("button.softphone-answer")
        customer.wait_for_selector(".voip[data-state='connected']", timeout=15000)
        desk.wait_for_selector(".softphone[data-state='connected']")
        wait_media(customer, ".voip")
        wait_media(desk, ".softphone")
        both_ways(c.box, "implus-webrtc-cust", "3001-")
        desk.screenshot(path=str(shots / "2-agent-in-callback.png"))
        voip = [r for r in c.client.session_requests(session.id) if r.channel.value == "voip"]
        assert len(voip) == 1 and voip[0].agent == "dave", voip
        states = [
            e.get("state") for e in c.client.transcript(session.id) if e["type"] == "voip.ring"
        ]
        assert states == ["ringing", "accepted"], states
        desk.click("button.softphone-hangup")
        customer.wait_for_selector(".voip[data-state='ended']")
        customer.wait_for_selector(".entry:has-text('VoIP call accepted')")
    finally:
        keep_logs(tmp_path, shots / "callback", c.box)
        chat.stop()


def test_voip_callback_to_a_closed_widget_offers_the_phone(
    call_centre: CallCentre, pages: Any, redis_url: str, tmp_path: Path
) -> None:
    c = voip_centre(call_centre, [LabAgent("alice", "1001", 5091, {"booking": 3})])
    chat = start_chat(redis_url, c.lab.config_path, tmp_path)
    try:
        desk = pages()
        open_desktop(desk, chat.url, "alice", agent_login(redis_url, "alice"))
        customer = pages()
        customer_chat(customer, chat.url, "u79")
        desk.click(".offer[data-channel='chat'] button.accept")
        desk.wait_for_selector(".timeline .entry:has-text('my booking')")
        customer.context.close()  # the customer left
        desk.click(".session button.voip-call")
        desk.wait_for_selector(".voip-call-result:has-text('not open')", timeout=10000)
        desk.wait_for_selector(".timeline .entry:has-text('chat window is not open')")
    finally:
        chat.stop()
