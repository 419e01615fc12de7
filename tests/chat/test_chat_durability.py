"""Acknowledged messages survive a hard kill of the chat service AND of redis-server.

The real redis-server runs with an append-only file (`appendonly yes`, `appendfsync
everysec`, see tests/conftest.py). Redis writes the AOF buffer to the file before it sends
replies, and the chat service acks a message only after the router's append script
returned, so an acked message is in the file (the page cache) even when both processes
are killed with SIGKILL. Only an operating-system crash could lose the last second.
"""

from __future__ import annotations

import os
import signal

import pytest
from chattest import ChatProcess, Stack, reply, say, take_offer, texts_until

pytestmark = [pytest.mark.redis, pytest.mark.slow]


def kill_hard(chat: ChatProcess, redis_server: object) -> None:
    assert chat.proc is not None
    os.killpg(chat.proc.pid, signal.SIGKILL)
    chat.proc.wait(10)
    chat.proc = None
    proc = redis_server.proc  # type: ignore[attr-defined]
    proc.kill()
    proc.wait(10)
    redis_server.proc = None  # type: ignore[attr-defined]


def test_acked_messages_survive_killing_chat_and_redis(stack: Stack, redis_server: object) -> None:
    alice = stack.desktop("alice")
    token = stack.token("u1")
    cust = stack.customer("u1", token=token)
    acks = [say(cust, f"message {i}", cid=f"c{i}") for i in range(10)]
    sid = acks[0]["session_id"]
    take_offer(alice, sid)
    replies = [reply(alice, sid, f"answer {i}") for i in range(3)]
    acked = {a["id"] for a in acks + replies}

    kill_hard(stack.chat, redis_server)
    redis_server.start()  # type: ignore[attr-defined]
    stack.chat.start()

    back = stack.customer("u1", token=token)
    back.expect("replay_done")
    entries = [f["entry"] for f in back.frames("entry") if f["entry"]["type"] == "message"]
    assert [e["text"] for e in entries] == [f"message {i}" for i in range(10)] + [
        f"answer {i}" for i in range(3)
    ]
    assert {e["id"] for e in entries} == acked
    # the widget resends what it never saw acked: nothing is stored twice
    again = say(back, "message 9", cid="c9")
    assert (again["id"], again["dup"]) == (acks[9]["id"], True)
    # and the conversation goes on: the router, the worker and the desktop reconnect
    desk = stack.desktop("alice", available=False)
    view = desk.expect("session", session_id=sid)
    assert len([e for e in view["entries"] if e["type"] == "message"]) == 13
    say(back, "still there?")
    assert texts_until(desk, "still there?")[-1] == "still there?"
    assert stack.router.session(sid).owner == "alice"
