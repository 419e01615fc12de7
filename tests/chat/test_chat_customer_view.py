"""What a customer's connection receives: no agent logins, no routing request ids, no
wrap-up codes, no internal error details - frame by frame, over a real `implus chat`,
a real router worker and the real redis-server (stopped for the error texts)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest
from chattest import Stack, WsClient, say, take_offer

pytestmark = [pytest.mark.redis, pytest.mark.slow]

LOGIN = "agent-x7"
INTERNAL_WORDS = ("redis", "error 111", "127.0.0.1", "connection refused", "router")


def everything(*conns: WsClient) -> list[dict[str, Any]]:
    """Every frame the connections hold (read until they go quiet)."""
    frames = []
    for c in conns:
        c.drain(0.5)
        frames += c.seen
    return frames


def test_customers_see_no_logins_request_ids_or_wrap_up_codes(stack: Stack) -> None:
    desk = stack.desktop(LOGIN, name="Sam Jones")
    token = stack.token("u1")
    cust = stack.customer("u1", token=token)
    first = say(cust, "hello")
    sid = first["session_id"]
    take_offer(desk, sid)
    second_tab = stack.customer("u1", token=token)  # a welcome with the session in it

    desk.send({"type": "typing", "session_id": sid, "on": True})
    typing = cust.expect("typing")
    assert typing["name"] == "Sam Jones"
    desk.send({"type": "seen", "session_id": sid, "id": first["id"]})
    cust.expect("receipt", party="agent", id=first["id"])
    desk.send({"type": "reply", "session_id": sid, "cid": "r1", "text": "Hi, Sam here"})
    desk.expect("ack", cid="r1")
    # The agent ends the chat and steps away; the customer writes again: a new chat
    # request waits in the queue, and the customer watching the session is told.
    desk.send({"type": "end", "session_id": sid})
    desk.expect("contact_ended", session_id=sid)
    desk.send({"type": "status", "status": "away", "reason": "coffee"})
    desk.expect("agent_status", status="away")
    say(cust, "one more thing")
    queued = cust.expect("request", state="queued")
    desk.send({"type": "status", "status": "available"})
    take_offer(desk, sid)
    desk.send({"type": "close", "session_id": sid, "disposition": "abusive-customer"})
    cust.expect("session_closed", session_id=sid)

    frames = everything(cust, second_tab)
    frames += [typing, queued]
    second_tab.send({"type": "hello"})
    again = second_tab.expect("welcome")
    frames.append(again)
    request_ids = {e["request"] for e in stack.router.transcript(sid) if e.get("request")}
    assert len(request_ids) == 2, stack.router.transcript(sid)
    text = json.dumps(frames)
    assert LOGIN not in text, [f for f in frames if LOGIN in json.dumps(f)]
    for rid in request_ids:
        assert rid not in text, [f for f in frames if rid in json.dumps(f)]
    assert "abusive-customer" not in text
    assert "owner" not in again
    assert all("request_id" not in f and "agent" not in f for f in frames)
    # The staff side still has all of it.
    desk.drain(0.5)
    assert any(f.get("request_id") in request_ids for f in desk.frames("contact_ended"))


def test_customer_error_texts_are_neutral_while_redis_is_down(
    stack: Stack, redis_server: Any
) -> None:
    desk = stack.desktop(LOGIN, name="Sam Jones")
    token = stack.token("u2")
    cust = stack.customer("u2", token=token)
    sid = say(cust, "hello")["session_id"]
    take_offer(desk, sid)
    redis_server.stop()
    try:
        cust.send({"type": "message", "cid": "m2", "text": "are you there?"})
        down = cust.expect("error", ref="m2")
        cust.send({"type": "typing", "on": True})
        typing_error = cust.expect("error")
        status, upload = upload_file(stack, token)
    finally:
        redis_server.start()
    assert down["code"] == "unavailable"
    assert typing_error["code"] == "unavailable"
    assert status == 503
    for message in (down["message"], typing_error["message"], upload["message"]):
        assert not any(w in message.lower() for w in INTERNAL_WORDS), message
        assert "retry" in message.lower() or "try again" in message.lower(), message
    # nothing was lost: the same cid goes through once Redis is back
    assert say(cust, "are you there?", cid="m2")["dup"] is False


def upload_file(stack: Stack, token: str) -> tuple[int, Any]:
    boundary = "b0undary"
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=file; filename=a.txt\r\n"
        f"Content-Type: text/plain\r\n\r\nhello\r\n--{boundary}--\r\n"
    ).encode()
    req = urllib.request.Request(
        f"{stack.chat.url}/widget/files?service=booking", data=body, method="POST"
    )
    req.add_header("Authorization", f"Bearer {token}")
    req.add_header("Content-Type", f"multipart/form-data; boundary={boundary}")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())
