"""Chat sessions end to end over real websockets: a real `implus chat` (gunicorn + gevent),
a real router worker and the real redis-server."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from chattest import ChatProcess, Stack, reply, say, take_offer, texts_until

pytestmark = [pytest.mark.redis, pytest.mark.slow]


def test_first_message_routes_to_agent_and_reply_reaches_customer(stack: Stack) -> None:
    alice = stack.desktop("alice")
    cust = stack.customer("u1")
    ack = say(cust, "Hello, I need to change my booking")
    sid = ack["session_id"]
    assert ack["dup"] is False
    view = take_offer(alice, sid)
    mine = [e for e in view["entries"] if e["type"] == "message"]
    assert [e["text"] for e in mine] == ["Hello, I need to change my booking"]
    assert mine[0]["id"] == ack["id"]
    assert stack.router.session(sid).owner == "alice"
    reply(alice, sid, "Sure, which booking?")
    assert texts_until(cust, "Sure, which booking?")[-1] == "Sure, which booking?"
    joined = cust.expect("agent_joined", session_id=sid)
    assert "agent" not in joined  # customers are not told agent ids


def test_notes_never_reach_the_customer(stack: Stack) -> None:
    alice = stack.desktop("alice")
    cust = stack.customer("u2")
    sid = say(cust, "hi")["session_id"]
    take_offer(alice, sid)
    reply(alice, sid, "VIP, be nice", note=True)
    reply(alice, sid, "visible")
    live = texts_until(cust, "visible")
    assert "VIP, be nice" not in live
    # nor in a replay, nor anything staff-only (routing steps with agent ids)
    again = stack.customer("u2")
    again.expect("replay_done")
    replayed = [f["entry"] for f in again.frames("entry")]
    assert [e.get("text") for e in replayed if e["type"] == "message"] == ["hi", "visible"]
    assert {e["type"] for e in replayed} <= {"message", "assigned"}
    assert all("agent" not in e and "request" not in e for e in replayed)
    # the agent's own view has the note
    alice.send({"type": "open", "session_id": sid})
    staff = alice.expect("session", session_id=sid)
    assert "VIP, be nice" in [e.get("text") for e in staff["entries"] if e["type"] == "note"]


def test_resume_replays_missed_entries_without_loss_or_duplicates(stack: Stack) -> None:
    alice = stack.desktop("alice")
    token = stack.token("u3")
    cust = stack.customer("u3", token=token)
    first = say(cust, "one", cid="m1")
    sid = first["session_id"]
    take_offer(alice, sid)
    cust.close()  # the customer goes away...
    for i in range(3):  # ...while the agent keeps writing
        reply(alice, sid, f"reply {i}")
    back = stack.customer("u3", token=token, after=first["id"])
    done = back.expect("replay_done")
    replayed = [f["entry"] for f in back.frames("entry")]
    assert [e.get("text") for e in replayed if e["type"] == "message"] == [
        "reply 0",
        "reply 1",
        "reply 2",
    ]
    assert done["last"] == replayed[-1]["id"]
    # The widget resends a message whose ack it never saw: stored once, acked again.
    again = say(back, "one", cid="m1")
    assert (again["id"], again["dup"]) == (first["id"], True)
    full = stack.customer("u3", token=token)
    full.expect("replay_done")
    texts = [
        f["entry"].get("text") for f in full.frames("entry") if f["entry"]["type"] == "message"
    ]
    assert texts == ["one", "reply 0", "reply 1", "reply 2"]
    # and the transcript itself holds each message once
    stored = [e["text"] for e in stack.router.transcript(sid) if e["type"] == "message"]
    assert stored == texts


def test_returning_customer_goes_to_the_known_agent(stack: Stack) -> None:
    alice = stack.desktop("alice")
    token = stack.token("u4")
    cust = stack.customer("u4", token=token)
    sid = say(cust, "first contact")["session_id"]
    take_offer(alice, sid)
    reply(alice, sid, "Let me check; write again when you have the number")
    # Alice frees her chat slot but the session stays open; bob is idle and longest idle.
    alice.send({"type": "end", "session_id": sid})
    alice.expect("contact_ended", session_id=sid)
    bob = stack.desktop("bob")
    assert stack.router.agent("alice").load.get("chat", 0) == 0
    # The customer writes again: the same session, and the new chat request is offered
    # to alice (who knows the story), not to the idle bob.
    assert say(cust, "the number is 4711")["session_id"] == sid
    view = take_offer(alice, sid)
    assert "first contact" in [e.get("text") for e in view["entries"]]
    [request] = stack.router.session_requests(sid)
    assert stack.router.explain(request.id)[-1]["known_agent"] == "alice"
    # Same again from a new connection (the page was reloaded meanwhile).
    alice.send({"type": "end", "session_id": sid})
    alice.expect("contact_ended", session_id=sid)
    back = stack.customer("u4", token=token)
    assert say(back, "and the date is May 3")["session_id"] == sid
    take_offer(alice, sid)
    bob.drain(0.5)
    assert not bob.frames("offer")


def test_capacity_limits_offers(stack: Stack) -> None:
    alice = stack.desktop("alice", chat=1)
    c1 = stack.customer("u5")
    c2 = stack.customer("u6")
    s1 = say(c1, "first")["session_id"]
    take_offer(alice, s1)
    s2 = say(c2, "second")["session_id"]
    with pytest.raises(AssertionError, match="no offer"):
        alice.expect("offer", timeout=2, session_id=s2)
    [waiting] = [q for q in stack.router.queue_stats() if q.channel == "chat"]
    assert waiting.waiting == 1
    alice.send({"type": "close", "session_id": s1, "disposition": "solved"})
    assert alice.expect("offer", timeout=15, session_id=s2)


def test_transfer_to_another_agent_keeps_the_transcript(stack: Stack) -> None:
    alice = stack.desktop("alice")
    cust = stack.customer("u7")
    sid = say(cust, "please transfer me")["session_id"]
    take_offer(alice, sid)
    bob = stack.desktop("bob")
    alice.send({"type": "transfer", "session_id": sid, "agent_id": "bob"})
    assert alice.expect("transferred", session_id=sid)["agent_id"] == "bob"
    alice.expect("contact_ended", session_id=sid)
    view = take_offer(bob, sid)
    assert "please transfer me" in [e.get("text") for e in view["entries"]]
    assert stack.router.session(sid).owner == "bob"
    # the customer's next message reaches bob, and no longer alice's desktop
    say(cust, "hello bob")
    assert texts_until(bob, "hello bob")[-1] == "hello bob"
    alice.drain(0.5)
    assert "hello bob" not in [f["entry"].get("text") for f in alice.frames("entry")]


def test_transfer_to_a_queue(stack: Stack) -> None:
    stack.router.load_strategy(
        "queues: {booking: {skills: {booking: 1}}, billing: {skills: {billing: 1}}}\n"
        "rules:\n  - name: all\n    actions: {queue: booking}\n"
    )
    alice = stack.desktop("alice", skills={"booking": 5})
    carol = stack.desktop("carol", skills={"billing": 3})
    cust = stack.customer("u11")
    sid = say(cust, "a question about my invoice")["session_id"]
    take_offer(alice, sid)
    alice.send({"type": "transfer", "session_id": sid, "queue": "nowhere"})
    err = alice.expect("error")
    assert err["code"] == "unknown_queue"
    assert "billing" in err["message"]
    alice.send({"type": "transfer", "session_id": sid, "queue": "billing"})
    alice.expect("transferred", session_id=sid)
    take_offer(carol, sid)


def test_two_instances_deliver_to_each_other(stack: Stack, chat_b: ChatProcess) -> None:
    alice = stack.desktop("alice")  # instance A
    cust = stack.customer("u8", server=chat_b)  # instance B
    sid = say(cust, "from instance B")["session_id"]
    take_offer(alice, sid)
    reply(alice, sid, "from instance A")
    assert texts_until(cust, "from instance A")[-1] == "from instance A"
    cust.send({"type": "typing", "on": True})
    assert alice.expect("typing", session_id=sid)["from"] == "customer"
    # an offer made while the agent sits on instance B reaches it there
    bob = stack.desktop("bob", server=chat_b)
    alice.send({"type": "status", "status": "away", "reason": "lunch"})
    alice.expect("agent_status", status="away")
    other = stack.customer("u9")  # instance A
    s2 = say(other, "anyone?")["session_id"]
    take_offer(bob, s2)


def _upload(server: ChatProcess, token: str, data: bytes, name: str = "a.png") -> dict:
    boundary = "xyzBOUNDARY"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{name}"\r\nContent-Type: image/png\r\n\r\n'
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    req = urllib.request.Request(
        server.url + "/widget/files?service=booking", data=body, method="POST"
    )
    req.add_header("Content-Type", f"multipart/form-data; boundary={boundary}")
    req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req) as r:
        return dict(json.load(r))


def _fetch(server: ChatProcess, path: str, bearer: str) -> tuple[int, bytes]:
    req = urllib.request.Request(server.url + path, headers={"Authorization": f"Bearer {bearer}"})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        with e:
            return e.code, b""


def test_file_access_is_scoped_to_the_sessions_participants(stack: Stack) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
    alice_token = stack.agent("alice")
    bob_token = stack.agent("bob")
    alice = stack.desktop("alice")
    t1, t2 = stack.token("u9"), stack.token("u10")
    meta = _upload(stack.chat, t1, png)
    sid = meta["session_id"]
    cust = stack.customer("u9", token=t1)
    cust.send({"type": "message", "cid": "f1", "text": "", "file": {"sha256": meta["sha256"]}})
    cust.expect("ack", cid="f1")
    path = f"/files/{sid}/{meta['sha256']}"
    # another customer, or an agent not handling the session: nothing
    assert _fetch(stack.chat, path, t2)[0] == 404
    assert _fetch(stack.chat, path, bob_token)[0] == 403
    view = take_offer(alice, sid)
    [shared] = [e for e in view["entries"] if e.get("file")]
    assert (shared["file"]["sha256"], shared["cid"]) == (meta["sha256"], "f1")
    assert _fetch(stack.chat, path, t1) == (200, png)  # the customer
    assert _fetch(stack.chat, path, alice_token) == (200, png)  # the session's agent
    assert _fetch(stack.chat, path, bob_token)[0] == 403  # a colleague who is not
    assert _fetch(stack.chat, path, stack.admin_token) == (200, png)
    # the same bytes referenced from another session are not reachable through it
    t2_meta = _upload(stack.chat, t2, b"\x89PNG\r\n\x1a\n" + b"\x01" * 10)
    assert _fetch(stack.chat, f"/files/{t2_meta['session_id']}/{meta['sha256']}", t2)[0] == 404


def test_a_customers_other_tab_sees_the_message_the_sending_tab_has_its_ack(
    stack: Stack,
) -> None:
    token = stack.token("u12")
    tab1 = stack.customer("u12", token=token)
    sid = say(tab1, "first")["session_id"]
    tab2 = stack.customer("u12", token=token)
    tab2.expect("replay_done")
    ack = say(tab1, "from tab one")
    got = tab2.expect("entry", session_id=sid, id=ack["id"])
    assert got["entry"]["text"] == "from tab one"
    tab1.drain(0.5)
    assert [f["entry"].get("text") for f in tab1.frames("entry")] == []
