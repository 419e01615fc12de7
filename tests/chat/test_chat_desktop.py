"""The agent desktop and supervisor over real websockets: presence leases, status, offers
with countdown, reject and timeout, close with disposition, click-to-call and "call me"
reaching the PBX command stream, the live supervisor board. Real `implus chat`, a real
router worker and the real redis-server; where a PBX bridge would act (phone presence,
call events), the test calls the router client exactly as the bridge does."""

from __future__ import annotations

import time

import pytest
from chattest import Stack, WsClient, reply, say, take_offer

from router.keys import Keys

pytestmark = [pytest.mark.redis, pytest.mark.slow]


def wait_for(check, timeout: float = 15.0, what: str = "condition"):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what} not reached within {timeout} s")


def pbx_commands(stack: Stack, pbx: str) -> list[dict[str, str]]:
    rows = stack.router.redis.xrange(Keys().pbx_commands(pbx))
    return [fields for _id, fields in rows]


def test_open_desktop_keeps_the_presence_lease_and_a_closed_one_lets_it_lapse(
    stack: Stack,
) -> None:
    alice = stack.desktop("alice")  # no heartbeat frames from here on
    first = stack.router.agent("alice").leases["desktop"]
    wait_for(
        lambda: stack.router.agent("alice").leases["desktop"] > first,
        timeout=5,
        what="a lease renewal by the server",
    )
    assert stack.router.agent("alice").status.value == "available"
    alice.close()
    gone = wait_for(
        lambda: (a := stack.router.agent("alice")).status.value == "offline" and a,
        timeout=12,
        what="the lapsed lease logging alice off",
    )
    assert gone.reason == "desktop disconnected"


def test_status_changes_reach_desktop_router_and_supervisor(stack: Stack) -> None:
    alice = stack.desktop("alice", available=False)
    board = supervisor(stack)
    alice.send({"type": "status", "status": "away", "reason": "lunch"})
    assert alice.expect("agent_status", status="away")["reason"] == "lunch"
    assert board.expect("agent_status", agent="alice", status="away")["reason"] == "lunch"
    state = stack.router.agent("alice")
    assert (state.status.value, state.reason) == ("away", "lunch")
    alice.send({"type": "status", "status": "dancing"})
    assert alice.expect("error")["code"] == "invalid_frame"
    alice.send({"type": "status", "status": "available"})
    alice.expect("agent_status", status="available")


def supervisor(stack: Stack) -> WsClient:
    ws = WsClient(
        f"{stack.chat.ws_url}/ws/supervisor",
        headers=[f"Authorization: Bearer {stack.admin_token}"],
    )
    stack.opened.append(ws)
    ws.send({"type": "hello"})
    ws.expect("board")
    return ws


def test_offer_countdown_reject_and_timeout(stack: Stack) -> None:
    stack.router.load_strategy(
        "defaults: {offer_timeout: 2, reject_delay: 60, max_no_answer: 1}\n"
        "queues: {general: {}}\nrules:\n  - name: all\n    actions: {queue: general}\n"
    )
    alice = stack.desktop("alice")
    cust = stack.customer("u1")
    sid = say(cust, "hello?")["session_id"]
    offer = alice.expect("offer", session_id=sid)
    assert 1000 <= offer["deadline"] - offer["now"] <= 2000  # the countdown's base
    assert (offer["channel"], offer["service"], offer["user_id"]) == ("chat", "booking", "u1")
    alice.send({"type": "reject", "offer_id": offer["offer_id"]})
    alice.expect("offer_gone", offer_id=offer["offer_id"], reason="rejected")
    # not offered to alice again for reject_delay; bob gets it, and lets it time out
    bob = stack.desktop("bob")
    missed = bob.expect("offer", session_id=sid)
    gone = bob.expect("offer_gone", offer_id=missed["offer_id"], timeout=8)
    assert gone["reason"] == "timeout"
    # one missed offer (max_no_answer: 1) sets bob away
    assert bob.expect("agent_status", status="away")["reason"] == "no-answer"
    alice.drain(0.3)
    assert not alice.frames("offer")
    # a desktop that connects later gets the pending offer in its welcome
    stack.router.load_strategy(
        "defaults: {offer_timeout: 30}\n"
        "queues: {general: {}}\nrules:\n  - name: all\n    actions: {queue: general}\n"
    )
    carol = stack.desktop("carol")
    fresh = carol.expect("offer", session_id=sid)
    again = stack.desktop("carol", available=False)  # say, the page was reloaded
    again.send({"type": "hello"})
    [listed] = again.expect("welcome")["offers"]
    assert listed["offer_id"] == fresh["offer_id"]
    assert listed["deadline"] == fresh["deadline"]


def test_close_with_disposition_goes_to_history(stack: Stack) -> None:
    alice = stack.desktop("alice", chat=1)
    token = stack.token("u2")
    cust = stack.customer("u2", token=token)
    sid = say(cust, "thanks, that's all")["session_id"]
    take_offer(alice, sid)
    alice.send({"type": "close", "session_id": sid, "disposition": "solved"})
    # the disposition is an internal wrap-up code: the customer is told only of the close
    assert "disposition" not in cust.expect("session_closed", session_id=sid)
    closed = stack.router.session(sid)
    assert (closed.state, closed.disposition) == ("closed", "solved")
    assert stack.router.agent("alice").load.get("chat") == 0
    alice.send({"type": "close", "session_id": sid, "disposition": "solved"})
    assert alice.expect("error")["code"] == "refused"
    # The customer comes back: a new session, and its view shows the closed one.
    back = stack.customer("u2", token=token)
    s2 = say(back, "one more thing")["session_id"]
    assert s2 != sid
    view = take_offer(alice, s2)
    assert [(h["session_id"], h["disposition"]) for h in view["history"]] == [(sid, "solved")]


def test_click_to_call_asks_the_agents_pbx(stack: Stack) -> None:
    alice = stack.desktop("alice", pbx="ast1", endpoint="1001")
    cust = stack.customer("u3")
    sid = say(cust, "can you call me?")["session_id"]
    take_offer(alice, sid)
    alice.send({"type": "call", "session_id": sid, "number": "+49 30 1234567"})
    requested = alice.expect("call_requested", session_id=sid)
    [(command_id, cmd)] = stack.router.redis.xrange(Keys().pbx_commands("ast1"))
    assert command_id == requested["command_id"]
    assert cmd["type"] == "click_to_call"
    assert (cmd["session"], cmd["agent"], cmd["endpoint"], cmd["number"]) == (
        sid,
        "alice",
        "1001",
        "+49301234567",
    )
    leg = alice.expect("entry", session_id=sid)
    while leg["entry"]["type"] != "call.requested":
        leg = alice.expect("entry", session_id=sid)
    assert leg["entry"]["number"] == "+49301234567"
    # The bridge reports the call's progress into the same session: one timeline.
    for etype, extra in (("call.answered", {}), ("call.hangup", {"duration_s": 42})):
        stack.router.append(sid, {"type": etype, "call_id": cmd["call"], "cause": "16", **extra})
    hangup = alice.expect("entry", session_id=sid)
    while hangup["entry"]["type"] != "call.hangup":
        hangup = alice.expect("entry", session_id=sid)
    assert hangup["entry"]["duration_s"] == 42
    seen = []
    while "call.hangup" not in seen:
        seen.append(cust.expect("entry", session_id=sid)["entry"]["type"])
    assert "call.requested" in seen
    # an agent without a phone in their profile is told what to fix
    alice.send({"type": "status", "status": "away"})
    alice.expect("agent_status", status="away")
    bob = stack.desktop("bob")
    other = stack.customer("u4")
    s2 = say(other, "hi")["session_id"]
    take_offer(bob, s2)
    bob.send({"type": "call", "session_id": s2, "number": "+4930999"})
    assert "pbx" in bob.expect("error")["message"]


def test_call_me_files_a_voice_request_in_the_same_session(stack: Stack) -> None:
    alice = stack.desktop("alice", pbx="ast1", endpoint="1001")
    cust = stack.customer("u5")
    sid = say(cust, "I'd rather talk")["session_id"]
    take_offer(alice, sid)
    reply(alice, sid, "Sure, press 'call me'")
    bob = stack.desktop("bob", pbx="ast1", endpoint="1002")
    for agent in ("alice", "bob"):  # their phones are registered (the AMI bridge says so)
        stack.router.heartbeat(agent, source="sip", ttl=120, device="available")
    cust.send({"type": "call_me", "cid": "cb1", "number": "+49 30 7654321"})
    ack = cust.expect("ack", cid="cb1")
    assert ack["session_id"] == sid
    cust.send({"type": "call_me", "cid": "cb1", "number": "+49 30 7654321"})  # resent
    assert cust.expect("ack", cid="cb1")["dup"] is True
    voice = [r for r in stack.router.session_requests(sid) if r.channel.value == "voice"]
    assert [(r.callback, r.owner) for r in voice] == [("+49307654321", "alice")]
    # the session's own agent gets the callback offer, and her PBX the callback command
    offer = alice.expect("offer", session_id=sid)
    assert (offer["channel"], offer["callback"]) == ("voice", "+49307654321")
    cmds = wait_for(lambda: pbx_commands(stack, "ast1"), what="a PBX command")
    assert [(c["type"], c["agent"], c["number"]) for c in cmds] == [
        ("callback", "alice", "+49307654321")
    ]
    bob.drain(0.3)
    assert not bob.frames("offer")


def test_supervisor_board_is_live(stack: Stack) -> None:
    board = supervisor(stack)
    cust = stack.customer("u6")
    sid = say(cust, "anyone there?")["session_id"]

    def waiting() -> int:
        f = board.expect("board")
        return sum(q["waiting"] for q in f["queues"] if q["channel"] == "chat")

    wait_for(lambda: waiting() == 1, what="the waiting chat on the board")
    alice = stack.desktop("alice")
    assert board.expect("agent_status", agent="alice")["status"] == "available"
    take_offer(alice, sid)
    wait_for(lambda: waiting() == 0, what="the board emptied")
    f = board.expect("board")
    [a] = f["agents"]
    assert (a["id"], a["status"], a["load"].get("chat"), a["desktop"]) == (
        "alice",
        "available",
        1,
        True,
    )
