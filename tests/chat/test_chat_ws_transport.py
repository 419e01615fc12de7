"""The websocket edge of a real `implus chat` (gunicorn + gevent) process: Origin and token
checks before the upgrade, bad frames answered with error frames on a connection that
stays usable, size and rate limits, and no permessage-deflate."""

from __future__ import annotations

import contextlib
import json
import socket
import time
import urllib.request
from collections.abc import Iterator

import pytest
import websocket
from chattest import SECRET, ChatProcess

from chat.tokens import TokenSigner

pytestmark = [pytest.mark.redis, pytest.mark.slow]


def customer_token(user: str = "u1", services: tuple[str, ...] = ()) -> str:
    return TokenSigner(SECRET.encode(), 3600, 3600).customer_token(user, services)


OPEN: list[websocket.WebSocket] = []


@pytest.fixture(autouse=True)
def _close_sockets() -> Iterator[None]:
    yield
    while OPEN:
        ws = OPEN.pop()
        ws.close()
        ws.shutdown()


def connect(
    server: ChatProcess, token: str | None = None, service: str = "booking", **kw
) -> websocket.WebSocket:
    protocols = ["implus", f"token.{token or customer_token()}"]
    ws = websocket.WebSocket()
    OPEN.append(ws)
    ws.settimeout(10)
    ws.connect(f"{server.ws_url}/ws/customer?service={service}", subprotocols=protocols, **kw)
    return ws


def frames_until(ws: websocket.WebSocket, wanted: str) -> dict:
    while True:
        f = json.loads(ws.recv())
        if f["type"] == wanted:
            return f


def test_served_by_gunicorn_on_loopback(chat_server: ChatProcess) -> None:
    with urllib.request.urlopen(chat_server.url + "/healthz") as r:
        assert r.headers["Server"].startswith("gunicorn")
        assert json.load(r) == {"ok": True}
    # Not reachable on another address of this machine.
    others = {a[4][0] for a in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)}
    for addr in others - {"127.0.0.1", "127.0.1.1"}:
        with socket.socket() as s:
            s.settimeout(1)
            assert s.connect_ex((addr, chat_server.port)) != 0


def test_upgrade_refused_for_foreign_origin(chat_server: ChatProcess) -> None:
    with pytest.raises(websocket.WebSocketBadStatusException) as e:
        connect(chat_server, origin="https://evil.example")
    assert e.value.status_code == 403
    with pytest.raises(websocket.WebSocketBadStatusException) as e:
        connect(chat_server, suppress_origin=True)
    assert e.value.status_code == 403
    # an allowed embedding site may connect
    connect(chat_server, origin="https://shop.example").close()


def test_upgrade_refused_without_valid_token(chat_server: ChatProcess) -> None:
    with pytest.raises(websocket.WebSocketBadStatusException) as e:
        connect(chat_server, token="not-a-token")
    assert e.value.status_code == 401
    scoped = customer_token("u1", ("billing",))
    with pytest.raises(websocket.WebSocketBadStatusException) as e:
        connect(chat_server, token=scoped, service="booking")
    assert e.value.status_code == 403
    agent = websocket.WebSocket()
    OPEN.append(agent)
    with pytest.raises(websocket.WebSocketBadStatusException) as e:
        agent.connect(f"{chat_server.ws_url}/ws/agent")
    assert e.value.status_code == 401


def test_bad_frames_get_error_frames_and_connection_stays(chat_server: ChatProcess) -> None:
    ws = connect(chat_server)
    assert ws.subprotocol == "implus"
    cases = [
        ("{not json", "invalid_frame", "not valid JSON"),
        (json.dumps({"type": "launch"}), "invalid_frame", "unknown frame type"),
        (json.dumps({"text": "hi"}), "invalid_frame", '"type"'),
        (json.dumps({"type": "message", "cid": "c1", "text": 5}), "invalid_frame", "text"),
        (json.dumps({"type": "message", "cid": "bad cid!", "text": "x"}), "invalid_frame", "cid"),
        (json.dumps({"type": "message", "cid": "c2", "text": "hi"}), "hello_first", "hello"),
        (json.dumps([1, 2]), "invalid_frame", ""),
        ("x" * 5000, "frame_too_large", "limit is 4096"),
    ]
    for raw, code, words in cases:
        ws.send(raw)
        f = json.loads(ws.recv())
        assert (f["type"], f["code"]) == ("error", code), (raw[:40], f)
        assert words in f["message"]
    ws.send_binary(b"\x00\x01")
    assert json.loads(ws.recv())["code"] == "binary_frame"
    ws.send(json.dumps({"type": "message", "cid": "c9", "text": 7}))
    assert json.loads(ws.recv())["ref"] == "c9"  # errors point at the frame's cid
    ws.send(json.dumps({"type": "ping"}))
    assert json.loads(ws.recv()) == {"type": "pong"}
    ws.close()


def test_frames_beyond_the_hard_limit_close_the_connection(chat_server: ChatProcess) -> None:
    ws = connect(chat_server)
    ws.send("y" * 70_000)
    with pytest.raises((websocket.WebSocketConnectionClosedException, ConnectionError)):
        _drain(ws)


def _drain(ws: websocket.WebSocket) -> None:
    for _ in range(3):
        ws.recv()


def test_rate_limit_per_connection(chat_server: ChatProcess) -> None:
    ws = connect(chat_server)
    for _ in range(40):
        ws.send(json.dumps({"type": "ping"}))
    replies = [json.loads(ws.recv()) for _ in range(40)]
    limited = [r for r in replies if r.get("code") == "rate_limited"]
    assert limited
    assert "slow down" in limited[0]["message"]
    assert sum(r["type"] == "pong" for r in replies) >= 20  # the burst went through
    other = connect(chat_server)  # another connection has its own allowance
    other.send(json.dumps({"type": "ping"}))
    assert json.loads(other.recv()) == {"type": "pong"}


def test_permessage_deflate_is_never_negotiated(chat_server: ChatProcess) -> None:
    ws = connect(chat_server, header=["Sec-WebSocket-Extensions: permessage-deflate"])
    assert "sec-websocket-extensions" not in {k.lower() for k in ws.getheaders()}
    ws.send(json.dumps({"type": "ping"}))
    assert json.loads(ws.recv()) == {"type": "pong"}


def test_keepalive_drops_a_peer_that_stops_answering_pings(chat_server: ChatProcess) -> None:
    """The server pings every second here; websocket-client answers a ping only while it
    reads, so a client that stops reading looks like a half-open connection."""
    alive = connect(chat_server)
    silent = connect(chat_server)
    deadline = time.monotonic() + 3.5
    alive.settimeout(0.5)
    while time.monotonic() < deadline:  # reading answers the pings
        with contextlib.suppress(websocket.WebSocketTimeoutException):
            alive.recv()
    alive.settimeout(5)
    alive.send(json.dumps({"type": "ping"}))
    assert json.loads(alive.recv()) == {"type": "pong"}
    frame = silent.recv_frame()  # raw frames: the unanswered pings, then the close
    while frame.opcode == websocket.ABNF.OPCODE_PING:
        frame = silent.recv_frame()
    assert frame.opcode == websocket.ABNF.OPCODE_CLOSE
    assert int.from_bytes(frame.data[:2], "big") == 1008
    assert b"no pong" in frame.data
