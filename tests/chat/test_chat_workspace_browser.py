"""The agent workspace in a real browser (Debian chromium via Playwright) against a real
`implus chat`, a real router worker and the real redis-server: offers that get noticed
(sound, desktop notification, tab title, preview), unread badges, the customer's context
and history search, canned replies, shortcuts, the transfer picker, End chat vs Close
session, and the note that is one message. Screenshots go to
test-artifacts/workspace/ (the folder CI uploads)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from browsertest import desktop, wait_until
from chattest import Stack, api, reply, say, take_offer
from test_chat_browser import png

pytestmark = [pytest.mark.browser, pytest.mark.redis, pytest.mark.slow]

# Counts the notifications and tones the page makes (Chromium headless has no speakers or
# notification centre); the page's own code runs unchanged on top of it.
RECORDER = """
window.__made = {notifications: [], tones: 0};
const Real = window.Notification;
class Recorded extends Real {
  constructor(title, options) { super(title, options); window.__made.notifications.push({title, body: options && options.body}); }
}
Object.defineProperty(Recorded, 'permission', {get: () => Real.permission});
Recorded.requestPermission = (...a) => Real.requestPermission(...a);
window.Notification = Recorded;
const start = OscillatorNode.prototype.start;
OscillatorNode.prototype.start = function (...a) { window.__made.tones += 1; return start.apply(this, a); };
"""


@pytest.fixture
def shots(artifacts_dir: Path) -> Path:
    folder = artifacts_dir / "workspace"
    folder.mkdir(exist_ok=True)
    return folder


def customer_token(stack: Stack, user: str, **profile: Any) -> str:
    status, body = api(
        stack.chat,
        "POST",
        "/api/customer-tokens",
        {"user_id": user, "services": ["booking"], **({"profile": profile} if profile else {})},
        bearer=stack.admin_token,
    )
    assert status == 201, body
    return str(body["token"])


def agent_page(browser: Any, stack: Stack, agent: str, recorder: bool = False) -> Any:
    context = browser.new_context(viewport={"width": 1360, "height": 900}, reduced_motion="reduce")
    if recorder:
        context.grant_permissions(["notifications"], origin=stack.chat.url)
        context.add_init_script(RECORDER)
    stack.opened_contexts = [*getattr(stack, "opened_contexts", []), context]
    return desktop(context.new_page(), stack.chat.url, agent)


@pytest.fixture
def contexts(stack: Stack) -> Any:
    yield
    for c in getattr(stack, "opened_contexts", []):
        c.close()
    stack.opened_contexts = []


def test_offers_ring_notify_preview_and_unread_badges(
    browser: Any, stack: Stack, shots: Path, contexts: None
) -> None:
    stack.agent("alice")
    # right after login the status pill and the dropdown both say what the router says
    fresh = browser.new_context().new_page()
    desktop(fresh, stack.chat.url, "alice", available=False)
    assert fresh.locator("#status-now").inner_text() == "offline"
    assert fresh.locator("#status-select").input_value() == "offline"
    fresh.context.close()
    page = agent_page(browser, stack, "alice", recorder=True)
    # the status pill and the dropdown agree from the start
    assert page.locator("#status-select").input_value() == "available"
    page.wait_for_selector("#notify-enable:has-text('Desktop notifications on')")
    page.click("#sound-toggle")  # off and on again: a user gesture lets the page play sound
    page.click("#sound-toggle")
    tones = page.evaluate("() => window.__made.tones")

    anna = stack.customer("u-anna", token=customer_token(stack, "u-anna", name="Anna Berg", vip=2))
    sid = say(anna, "Hi, my booking 4711 shows the wrong date")["session_id"]
    offer = page.locator(".offer[data-channel=chat]:has-text('Anna Berg')")
    # the router may offer the chat before the message is stored: it follows in the offer
    page.locator(".offer-preview:has-text('wrong date')").wait_for()
    text = offer.inner_text()
    for shown in (
        "Chat",
        "booking",
        "Anna Berg",
        "u-anna",
        "VIP 2",
        "booking 4711 shows the wrong date",
    ):
        assert shown in text, text
    assert "New offer" in page.title()
    made = page.evaluate("() => window.__made")
    assert made["tones"] >= tones + 2  # the two-tone chime
    note = made["notifications"][-1]  # a late preview replaces it (same tag, no new sound)
    assert note["title"] == "New chat · booking · Anna Berg"
    assert note["body"] == "Hi, my booking 4711 shows the wrong date"
    page.screenshot(path=str(shots / "1-offer-with-preview.png"))

    page.keyboard.press("Alt+a")  # accept the offer that expires first
    page.wait_for_selector(f"#session-{sid} .entry.customer:has-text('booking 4711')")
    wait_until(lambda: "New offer" not in page.title(), what="the title calming down")

    # a second conversation: its messages count as unread until it is looked at
    ben = stack.customer("u-ben", token=customer_token(stack, "u-ben", name="Ben Okafor"))
    sid2 = say(ben, "Is my refund on its way?")["session_id"]
    page.wait_for_selector(".offer:has-text('Ben Okafor')")
    page.click(".offer:has-text('Ben Okafor') button.accept")
    page.wait_for_selector(f"#session-{sid2} .entry.customer")
    page.click(f"#tab-{sid}")
    say(ben, "Hello?")
    say(ben, "Anyone there?")
    badge = page.locator(f"#tab-{sid2} .badge")
    wait_until(lambda: badge.is_visible() and badge.inner_text() == "2", what="2 unread for Ben")
    assert page.title().startswith("(2)")
    page.screenshot(path=str(shots / "2-unread-badge.png"))
    page.keyboard.press("Alt+ArrowDown")  # to the next conversation: read now
    wait_until(lambda: not badge.is_visible(), what="the badge clearing")
    assert page.locator(f"#session-{sid2}").is_visible()


def test_customer_context_history_and_search(
    browser: Any, stack: Stack, shots: Path, contexts: None
) -> None:
    stack.agent("alice")
    token = customer_token(stack, "u-zoe", name="Zoë Weiß", language="de", tags=["gold"], vip=3)
    # an earlier session, closed as solved
    old = stack.router.submit("chat", "booking", "u-zoe")
    stack.router.append(
        old.session_id, {"type": "message", "from": "customer", "text": "Please refund my ticket"}
    )
    stack.router.close_session(old.session_id, disposition="solved", by="bob")
    page = agent_page(browser, stack, "alice")
    widget = browser.new_context().new_page()
    stack.opened_contexts.append(widget.context)
    widget.goto(f"{stack.chat.url}/chat?service=booking#token={token}")
    widget.fill("textarea.text", "The refund has not arrived")
    widget.click("button.send")
    page.click(".offer:has-text('Zoë Weiß') button.accept")
    panel = page.locator(".session:visible")
    panel.locator(".entry.customer:has-text('refund has not')").wait_for()
    facts = panel.locator(".customer-facts").inner_text()
    for shown in ("Zoë Weiß", "u-zoe", "de", "VIP 3", "gold", "/chat?service=booking", "on Linux"):
        assert shown in facts, facts
    request_id = panel.locator(".customer-facts .request-id").first.inner_text()
    assert stack.router.request(request_id).user_id == "u-zoe"  # what `explain` takes
    assert "solved" in panel.locator(".history-list").inner_text()
    panel.locator(".history-search input").fill("refund")
    panel.locator(".history-search button").click()
    panel.locator(".search-hit").first.wait_for()
    hits = panel.locator(".search-results").inner_text()
    assert "Please refund my ticket" in hits and "refund has not arrived" in hits
    panel.locator(".search-hit:has-text('Please refund my ticket')").click()
    panel.locator(".history-view .entry:has-text('Please refund my ticket')").wait_for()
    page.screenshot(path=str(shots / "3-customer-context.png"), full_page=True)


def test_canned_replies_notes_transfer_end_and_close(
    browser: Any, stack: Stack, shots: Path, contexts: None, tmp_path: Path
) -> None:
    stack.agent("alice")
    status, body = api(
        stack.chat,
        "PUT",
        "/api/canned-replies/greet",
        {"shortcut": "greet", "title": "Greeting", "text": "Hello {customer}, {agent} here."},
        bearer=stack.admin_token,
    )
    assert status == 201, body
    page = agent_page(browser, stack, "alice")
    cust = stack.customer("u-kim", token=customer_token(stack, "u-kim", name="Kim"))
    sid = say(cust, "hello")["session_id"]
    page.click(".offer button.accept")
    panel = page.locator(f"#session-{sid}")
    box = panel.locator(".reply-text")
    box.fill("/gr")
    panel.locator(".canned-picker [role=option]:has-text('Greeting')").wait_for()
    page.screenshot(path=str(shots / "4-canned-picker.png"))
    box.press("Enter")
    assert box.input_value() == "Hello Kim, Alice here."
    box.press("Enter")
    panel.locator(".entry.agent.message:has-text('Hello Kim, Alice here.')").wait_for()

    # a note is one message: the composer is back to "reply" after it
    box.press("Alt+n")
    assert panel.locator(".composer.note-mode").count() == 1
    box.fill("customer sounds upset")
    box.press("Enter")
    panel.locator(".entry.note:has-text('customer sounds upset')").wait_for()
    assert panel.locator("input[value=reply]").is_checked()
    assert panel.locator(".composer.note-mode").count() == 0
    pdf = tmp_path / "invoice.pdf"
    pdf.write_bytes(b"%PDF-1.4\n% the invoice the customer asked for\n")
    panel.locator(".file-input").set_input_files(str(pdf))
    panel.locator(".entry.agent.message a.attachment:has-text('invoice.pdf')").wait_for()
    assert panel.locator(".entry.note a.attachment").count() == 0
    # the customer got the file, not a note
    wait_until(
        lambda: (
            any(
                f["entry"].get("file", {}).get("name") == "invoice.pdf"
                for f in cust.frames("entry")
            )
            or cust.drain(0.2)
        ),
        what="the PDF reaching the customer",
    )

    # the newest image is scrolled into view once it has loaded (and grown the timeline)
    for n in range(6):
        box.fill(f"filler {n}")
        box.press("Enter")
    tall = tmp_path / "tall.png"
    tall.write_bytes(png(40, 600, (20, 120, 230)))
    panel.locator(".file-input").set_input_files(str(tall))
    panel.locator(".entry.agent img.image").wait_for()
    timeline = panel.locator(".conversation .timeline")
    wait_until(
        lambda: timeline.evaluate("t => t.scrollHeight - t.scrollTop - t.clientHeight < 4"),
        what="the timeline scrolled to the newest image",
    )
    image_box = panel.locator(".entry.agent img.image").bounding_box()
    list_box = timeline.bounding_box()
    assert (
        image_box
        and list_box
        and image_box["y"] + image_box["height"] <= list_box["y"] + list_box["height"] + 1
    )

    # transfer: a picker of queues and available agents, never free text
    stack.desktop("bob")
    box.press("Alt+t")
    dialog = page.locator("#transfer-dialog")
    dialog.locator("label.choice:has-text('Bob')").wait_for()
    assert dialog.locator("input[value='queue:booking'], input[value^='queue:']").count() >= 1
    assert dialog.locator("input[type=text]").count() == 0
    page.screenshot(path=str(shots / "5-transfer-picker.png"))
    dialog.locator("label.choice:has-text('Bob')").click()
    dialog.locator("button[type=submit]").click()
    panel.locator(".contacts:has-text('transferred to bob')").wait_for()

    # End chat and Close session say what they do; closing asks for a disposition
    cust2 = stack.customer("u-lea", token=customer_token(stack, "u-lea", name="Lea"))
    sid2 = say(cust2, "one more question")["session_id"]
    page.click(".offer:has-text('Lea') button.accept")
    panel2 = page.locator(f"#session-{sid2}")
    end_help = panel2.locator(".end-chat").get_attribute("aria-describedby")
    assert "stays open" in page.locator(f"#{end_help}").inner_text()
    panel2.locator(".open-close").click()
    close = page.locator("#close-dialog")
    close.locator("select").select_option("follow-up")
    page.screenshot(path=str(shots / "6-close-dialog.png"))
    close.locator("button[type=submit]").click()
    panel2.locator(".contacts:has-text('Closed: follow-up')").wait_for()
    assert stack.router.session(sid2).disposition == "follow-up"


def test_shortcut_list_and_keyboard_only_use(
    browser: Any, stack: Stack, shots: Path, contexts: None
) -> None:
    stack.agent("alice")
    page = agent_page(browser, stack, "alice")
    page.locator("body").press("?")
    dialog = page.locator("#shortcuts-dialog")
    dialog.wait_for()
    for keys in ("Alt+A", "Alt+N", "Alt+T", "Alt+E", "Alt+W", "/"):
        assert keys in dialog.inner_text()
    page.screenshot(path=str(shots / "7-shortcuts.png"))
    page.keyboard.press("Escape")
    assert not dialog.is_visible()
    cust = stack.customer("u-key")
    sid = say(cust, "typing only")["session_id"]
    page.locator(".offer").wait_for()
    page.keyboard.press("Alt+a")
    page.locator(f"#session-{sid} .reply-text").wait_for()
    page.focus(f"#session-{sid} .reply-text")
    page.keyboard.type("answered without a mouse")
    page.keyboard.press("Enter")
    wait_until(
        lambda: (
            any(f["entry"].get("text") == "answered without a mouse" for f in cust.frames("entry"))
            or cust.drain(0.2)
        ),
        what="the reply reaching the customer",
    )
    _ = take_offer, reply  # the websocket helpers are the other tests' way in
