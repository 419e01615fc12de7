"""A phone call in a chat's session, in the browser: ONE card on each side (ringing ->
connected with whom -> ended, with its length), in true order, in words for the side that
reads it, while the chat goes on. Real `implus chat`, real router worker, real
redis-server and Debian chromium. The PBX bridge's part - filing the caller's request,
accepting the offer when the phone answers, the transcript entries of each leg - is done
here with the router client exactly as callflow does it (same entries, same fields, same
order as callflow/inbound.py and callflow/ringing.py write them for an inbound call)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from browsertest import desktop, wait_until
from chattest import Stack, say

pytestmark = [pytest.mark.browser, pytest.mark.redis, pytest.mark.slow]

CALLER = "5551234"
CALL_ID = "1796627000.41"  # the caller's Uniqueid: the call's id
AGENT_LEG = "1796627000.42"


def leg_entry(etype: str, cmid: str, **data: Any) -> tuple[dict[str, Any], str]:
    entry = {"type": etype, "call_id": CALL_ID, "pbx": "sandbox", "direction": "inbound", **data}
    return entry, f"sandbox:{cmid}"


def test_a_call_is_one_card_on_each_side_and_the_chat_goes_on(
    new_page: Any, stack: Stack, artifacts_dir: Path
) -> None:
    shots = artifacts_dir / "calls"
    shots.mkdir(exist_ok=True)
    router = stack.router
    stack.agent("alice", pbx="sandbox", endpoint="1001", chat=3, voice=1)
    router.load_strategy(
        "defaults: {offer_timeout: 30}\nqueues: {booking: {}}\n"
        "rules:\n  - name: all\n    actions: {queue: booking}\n"
    )
    agent = desktop(new_page(), stack.chat.url, "alice")
    router.heartbeat("alice", source="sip", ttl=120, device="available")  # her phone

    # The caller chats first (the widget), alice takes the chat.
    widget = new_page()
    widget.goto(f"{stack.chat.url}/chat?service=booking#token={stack.token(CALLER, ['booking'])}")
    widget.fill("textarea.text", "I will call you about booking 4711")
    widget.click("button.send")
    agent.click(".offer button.accept")
    sid = agent.locator(".session").first.get_attribute("data-session")
    agent.wait_for_selector(f"#session-{sid} .entry.customer:has-text('booking 4711')")

    # Then calls the booking line: what the bridge does, in its order.
    sub = router.submit(
        channel="voice",
        service="booking",
        user_id=CALLER,
        customer={"language": "en", "entry": "booking_line", "number": CALLER},
        pbx="sandbox",
        call_id=CALL_ID,
    )
    assert sub.session_id == sid  # one session for the chat and the call
    router.append(sid, *leg_entry("call.answered", f"{CALL_ID}:call.answered", leg=CALL_ID,
                                  party="customer", entry="booking_line", number=CALLER))  # fmt: skip
    offer = wait_until(
        lambda: next(
            (o for o in router.agent_offers("alice") if o.request_id == sub.request_id), None
        ),
        what="the call offered to alice (the session's agent)",
    )
    agent.wait_for_selector(".offer[data-channel=voice]")
    router.append(sid, *leg_entry("call.ringing", f"{AGENT_LEG}:call.ringing:{offer.id}",
                                  leg=AGENT_LEG, party="agent", agent="alice", offer=offer.id))  # fmt: skip
    agent.wait_for_selector(f"#session-{sid} .call-card[data-state=ringing]")
    widget.wait_for_selector(".call-card:has-text('You called us')")
    agent.screenshot(path=str(shots / "1-desktop-ringing.png"))
    assert router.accept(offer.id, "alice").ok  # her phone answered
    router.append(sid, *leg_entry("call.answered", f"{AGENT_LEG}:call.answered:{offer.id}",
                                  leg=AGENT_LEG, party="agent", agent="alice"))  # fmt: skip
    router.append(sid, *leg_entry("call.bridged", f"{CALL_ID}:call.bridged:{offer.id}",
                                  agent="alice", agent_leg=AGENT_LEG, wait_s=4.2))  # fmt: skip
    agent.wait_for_selector(f"#session-{sid} .call-card[data-state=connected]")
    widget.wait_for_selector(".call-card:has-text('Connected with Alice')")
    widget.screenshot(path=str(shots / "2-widget-connected.png"))
    # The customer hangs up: both legs end (the agent's first, as callflow writes them).
    router.append(sid, *leg_entry("call.hangup", f"{AGENT_LEG}:call.hangup", leg=AGENT_LEG,
                                  party="agent", agent="alice", cause="NORMAL_CLEARING",
                                  duration_s=17.0, ended_by="customer"))  # fmt: skip
    router.append(sid, *leg_entry("call.hangup", f"{CALL_ID}:call.hangup", leg=CALL_ID,
                                  party="customer", agent="alice", state="connected",
                                  cause="NORMAL_CLEARING", duration_s=20.3, talk_s=17.1,
                                  ended_by="customer"))  # fmt: skip
    assert router.complete(sub.request_id, "hangup by customer").ok

    # The desktop: one card, its steps in true order, the length; the chat is still live.
    card = agent.locator(f"#session-{sid} .call-card")
    card.locator(".pill:has-text('ended')").wait_for()
    assert card.count() == 1
    steps = [s.strip() for s in card.locator(".call-steps li span").all_inner_texts()]
    assert steps == [
        "Call came in on booking_line",
        "Ringing Alice",
        "Alice answered",
        "Connected with Alice",
        "Alice hung up",
        "Call ended · by customer · talk 0:17 · total 0:20",
    ], steps
    assert sub.request_id in card.inner_text()  # the id `implus router explain` takes
    head = agent.locator(f"#session-{sid} .contacts")
    wait_until(lambda: "Chat active" in head.inner_text() and "Call ended" in head.inner_text(),
               what="the header saying: chat active, call ended")  # fmt: skip
    timeline = agent.locator(f"#session-{sid} .conversation .timeline").inner_text()
    assert "took the voice" not in timeline and "hung up ·" not in timeline
    say_more = agent.locator(f"#session-{sid} .reply-text")
    say_more.fill("Thanks for calling, anything else?")
    say_more.press("Enter")
    agent.screenshot(path=str(shots / "3-desktop-call-ended-chat-goes-on.png"), full_page=True)

    # The widget: one card in the caller's words, "joined the chat" once, the reply.
    widget.wait_for_selector(".entry.agent:has-text('anything else')")
    wcard = widget.locator(".call-card")
    assert wcard.count() == 1
    assert wcard.inner_text().split("\n")[-2:] == ["You called us", "Call with Alice ended · 0:17"]
    log = widget.locator(".log").inner_text()
    assert log.count("joined the chat") == 1
    for wrong in ("Your phone is ringing", "Call connected", "An agent joined"):
        assert wrong not in log
    widget.screenshot(path=str(shots / "4-widget-call-ended.png"))
    # the order is the transcript's: the card sits between the chat's first message and the reply
    items = widget.locator(".log > li").all_inner_texts()
    first = next(i for i, t in enumerate(items) if "booking 4711" in t)
    call = next(i for i, t in enumerate(items) if "You called us" in t)
    last = next(i for i, t in enumerate(items) if "anything else" in t)
    assert first < call < last
    _ = say
