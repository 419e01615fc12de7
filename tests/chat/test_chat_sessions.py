"""Chat flows end to end over real websockets: a real `implus chat` (gunicorn + gevent), a
real router worker process and the real redis-server. Needs router/client.py on main."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from chattest import ChatProcess, WsClient, agent_ws, api, customer_ws

pytestmark = [pytest.mark.redis, pytest.mark.slow]


@pytest.fixture
def admin_token(chat_stack: ChatProcess, stack_admin: tuple[str, str]) -> str:
    status, body = api(
        chat_stack,
        "POST",
        "/api/auth/token",
        {"username": stack_admin[0], "password": stack_admin[1], "role": "admin"},
    )
    assert status == 200, body
    return str(body["token"])


@pytest.fixture
def make_agent(chat_stack: ChatProcess, admin_token: str) -> Any:
    def make(agent_id: str, chat: int = 3, skills: dict[str, int] | None = None) -> str:
        status, body = api(
            chat_stack,
            "PUT",
            f"/api/agents/{agent_id}",
            {
                "name": agent_id.title(),
                "skills": skills or {"booking": 5},
                "capacity": {"voice": 1, "chat": chat},
                "password": f"{agent_id}-password",
            },
            bearer=admin_token,
        )
        assert status == 200, body
        status, body = api(
            chat_stack,
            "POST",
            "/api/auth/token",
            {"username": agent_id, "password": f"{agent_id}-password"},
        )
        assert status == 200, body
        return str(body["token"])

    return make


@pytest.fixture
def clients() -> Iterator[list[WsClient]]:
    opened: list[WsClient] = []
    yield opened
    for c in opened:
        c.close()


def customer_token(chat_stack: ChatProcess, admin_token: str, user: str) -> str:
    status, body = api(
        chat_stack, "POST", "/api/customer-tokens", {"user_id": user}, bearer=admin_token
    )
    assert status == 201, body
    return str(body["token"])


def available_agent(chat_stack: ChatProcess, token: str, clients: list[WsClient]) -> WsClient:
    a = agent_ws(chat_stack, token)
    clients.append(a)
    a.send({"type": "hello"})
    a.expect("welcome")
    a.send({"type": "status", "status": "available"})
    a.expect("agent_status", status="available")
    return a


def say(c: WsClient, text: str, cid: str | None = None) -> dict[str, Any]:
    cid = cid or uuid.uuid4().hex
    c.send({"type": "message", "cid": cid, "text": text})
    return c.expect("ack", cid=cid)


def test_first_message_routes_to_agent_and_reply_reaches_customer(
    chat_stack: ChatProcess, admin_token: str, make_agent: Any, clients: list[WsClient]
) -> None:
    alice = available_agent(chat_stack, make_agent("alice"), clients)
    cust = customer_ws(chat_stack, customer_token(chat_stack, admin_token, "u1"))
    clients.append(cust)
    cust.send({"type": "hello"})
    assert cust.expect("welcome")["session_id"] is None
    ack = say(cust, "Hello, I need to change my booking")
    offer = alice.expect("offer")
    assert offer["session_id"] == ack["session_id"]
    alice.send({"type": "accept", "offer_id": offer["offer_id"]})
    view = alice.expect("session", session_id=ack["session_id"])
    assert [e["entry"]["text"] for e in view["entries"]][-1] == "Hello, I need to change my booking"
    alice.send(
        {
            "type": "reply",
            "session_id": ack["session_id"],
            "cid": "r1",
            "text": "Sure, which booking?",
        }
    )
    alice.expect("ack", cid="r1")
    got = cust.expect("entry")
    while got["entry"].get("from") != "agent":
        got = cust.expect("entry")
    assert got["entry"]["text"] == "Sure, which booking?"


def test_notes_never_reach_the_customer(
    chat_stack: ChatProcess, admin_token: str, make_agent: Any, clients: list[WsClient]
) -> None:
    alice = available_agent(chat_stack, make_agent("alice"), clients)
    cust = customer_ws(chat_stack, customer_token(chat_stack, admin_token, "u2"))
    clients.append(cust)
    cust.send({"type": "hello"})
    cust.expect("welcome")
    sid = say(cust, "hi")["session_id"]
    alice.send({"type": "accept", "offer_id": alice.expect("offer")["offer_id"]})
    alice.expect("session", session_id=sid)
    alice.send({"type": "note", "session_id": sid, "cid": "n1", "text": "VIP, be nice"})
    alice.expect("ack", cid="n1")
    alice.send({"type": "reply", "session_id": sid, "cid": "r1", "text": "visible"})
    alice.expect("ack", cid="r1")
    texts = []
    while "visible" not in texts:
        texts.append(cust.expect("entry")["entry"].get("text"))
    assert "VIP, be nice" not in texts
    # nor in a replay
    again = customer_ws(chat_stack, customer_token(chat_stack, admin_token, "u2"))
    clients.append(again)
    again.send({"type": "hello"})
    again.expect("replay_done")
    assert all(f["entry"]["type"] != "note" for f in again.seen if f["type"] == "entry")


def test_resume_replays_missed_entries_and_dedups_resent_messages(
    chat_stack: ChatProcess, admin_token: str, make_agent: Any, clients: list[WsClient]
) -> None:
    alice = available_agent(chat_stack, make_agent("alice"), clients)
    token = customer_token(chat_stack, admin_token, "u3")
    cust = customer_ws(chat_stack, token)
    cust.send({"type": "hello"})
    cust.expect("welcome")
    first = say(cust, "one", cid="m1")
    sid = first["session_id"]
    alice.send({"type": "accept", "offer_id": alice.expect("offer")["offer_id"]})
    alice.expect("session", session_id=sid)
    cust.close()  # the customer goes away...
    for i in range(3):  # ...while the agent keeps writing
        alice.send({"type": "reply", "session_id": sid, "cid": f"r{i}", "text": f"reply {i}"})
        alice.expect("ack", cid=f"r{i}")
    back = customer_ws(chat_stack, token)
    clients.append(back)
    back.send({"type": "hello", "after": first["id"]})
    done = back.expect("replay_done")
    replayed = [f["entry"]["text"] for f in back.seen if f["type"] == "entry"]
    assert replayed == ["reply 0", "reply 1", "reply 2"]
    assert done["last"] != first["id"]
    # The widget resends a message whose ack it never saw: stored once, acked again.
    again = say(back, "one", cid="m1")
    assert again["id"] == first["id"]
    back.send({"type": "hello", "after": "0-0"})
    back.expect("replay_done")
    all_texts = [f["entry"]["text"] for f in back.seen if f["type"] == "entry"]
    assert all_texts.count("one") == 2  # once in the first replay window, once in the full one


def test_returning_customer_goes_to_the_known_agent(
    chat_stack: ChatProcess, admin_token: str, make_agent: Any, clients: list[WsClient]
) -> None:
    alice = available_agent(chat_stack, make_agent("alice"), clients)
    token = customer_token(chat_stack, admin_token, "u4")
    cust = customer_ws(chat_stack, token)
    clients.append(cust)
    cust.send({"type": "hello"})
    cust.expect("welcome")
    sid = say(cust, "first contact")["session_id"]
    alice.send({"type": "accept", "offer_id": alice.expect("offer")["offer_id"]})
    alice.expect("session", session_id=sid)
    bob = available_agent(chat_stack, make_agent("bob"), clients)
    # The customer comes back on a new connection with the session still open: the same
    # session, and the offer goes to alice, not to the idle bob.
    back = customer_ws(chat_stack, token)
    clients.append(back)
    back.send({"type": "hello"})
    assert back.expect("welcome")["session_id"] == sid
    assert say(back, "me again")["session_id"] == sid
    entry = alice.expect("entry", session_id=sid)
    while entry["entry"].get("text") != "me again":
        entry = alice.expect("entry", session_id=sid)
    assert not [f for f in bob.seen if f["type"] == "offer"]


def test_capacity_limits_offers(
    chat_stack: ChatProcess, admin_token: str, make_agent: Any, clients: list[WsClient]
) -> None:
    alice = available_agent(chat_stack, make_agent("alice", chat=1), clients)
    c1 = customer_ws(chat_stack, customer_token(chat_stack, admin_token, "u5"))
    c2 = customer_ws(chat_stack, customer_token(chat_stack, admin_token, "u6"))
    clients.extend([c1, c2])
    for c in (c1, c2):
        c.send({"type": "hello"})
        c.expect("welcome")
    s1 = say(c1, "first")["session_id"]
    alice.send({"type": "accept", "offer_id": alice.expect("offer")["offer_id"]})
    alice.expect("session", session_id=s1)
    s2 = say(c2, "second")["session_id"]
    with pytest.raises(AssertionError, match="no offer"):
        alice.expect("offer", timeout=3, session_id=s2)
    alice.send({"type": "close", "session_id": s1, "disposition": "solved"})
    assert alice.expect("offer", timeout=30, session_id=s2)


def test_transfer_to_another_agent_keeps_the_transcript(
    chat_stack: ChatProcess, admin_token: str, make_agent: Any, clients: list[WsClient]
) -> None:
    alice = available_agent(chat_stack, make_agent("alice"), clients)
    cust = customer_ws(chat_stack, customer_token(chat_stack, admin_token, "u7"))
    clients.append(cust)
    cust.send({"type": "hello"})
    cust.expect("welcome")
    sid = say(cust, "please transfer me")["session_id"]
    alice.send({"type": "accept", "offer_id": alice.expect("offer")["offer_id"]})
    alice.expect("session", session_id=sid)
    bob = available_agent(chat_stack, make_agent("bob"), clients)
    alice.send({"type": "transfer", "session_id": sid, "agent_id": "bob"})
    offer = bob.expect("offer", timeout=30, session_id=sid)
    bob.send({"type": "accept", "offer_id": offer["offer_id"]})
    view = bob.expect("session", session_id=sid)
    assert "please transfer me" in [e["entry"].get("text") for e in view["entries"]]


def test_two_instances_deliver_to_each_other(
    chat_stack: ChatProcess,
    second_chat: ChatProcess,
    admin_token: str,
    make_agent: Any,
    clients: list[WsClient],
) -> None:
    alice = available_agent(chat_stack, make_agent("alice"), clients)  # instance A
    token = customer_token(chat_stack, admin_token, "u8")
    cust = customer_ws(second_chat, token)  # instance B
    clients.append(cust)
    cust.send({"type": "hello"})
    cust.expect("welcome")
    sid = say(cust, "from instance B")["session_id"]
    alice.send({"type": "accept", "offer_id": alice.expect("offer")["offer_id"]})
    alice.expect("session", session_id=sid)
    alice.send({"type": "reply", "session_id": sid, "cid": "x1", "text": "from instance A"})
    got = cust.expect("entry")
    while got["entry"].get("text") != "from instance A":
        got = cust.expect("entry")
    cust.send({"type": "typing", "on": True})
    assert alice.expect("typing", session_id=sid)["from"] == "customer"


def test_customer_cannot_fetch_another_customers_file(
    chat_stack: ChatProcess, admin_token: str, clients: list[WsClient]
) -> None:
    import urllib.request

    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
    t1 = customer_token(chat_stack, admin_token, "u9")
    t2 = customer_token(chat_stack, admin_token, "u10")
    boundary = "xyzBOUNDARY"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="a.png"\r\nContent-Type: image/png\r\n\r\n'
        ).encode()
        + png
        + (f"\r\n--{boundary}--\r\n").encode()
    )
    req = urllib.request.Request(
        chat_stack.url + "/widget/files?service=booking", data=body, method="POST"
    )
    req.add_header("Content-Type", f"multipart/form-data; boundary={boundary}")
    req.add_header("Authorization", f"Bearer {t1}")
    import json

    with urllib.request.urlopen(req) as r:
        meta = json.load(r)
    url = f"/files/{meta['session_id']}/{meta['sha256']}"
    mine = urllib.request.Request(chat_stack.url + url, headers={"Authorization": f"Bearer {t1}"})
    with urllib.request.urlopen(mine) as r:
        assert r.read() == png
        assert r.headers["X-Content-Type-Options"] == "nosniff"
    theirs = urllib.request.Request(chat_stack.url + url, headers={"Authorization": f"Bearer {t2}"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(theirs)
    assert e.value.code == 404
    e.value.close()
