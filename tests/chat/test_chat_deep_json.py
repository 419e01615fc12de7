"""Deeply nested JSON (and YAML) at every entry point: a 10 KB frame of 5,000 nested
arrays made Python's json module raise RecursionError while the server built the error
frame, and the server wrote an HTTP 500 into the open websocket. Every entry point must
answer such input with a clear error and keep the connection."""

from __future__ import annotations

import json
from typing import Any

import pytest
import websocket
from chattest import Stack, fast_accounts, staff_login
from flask.testing import FlaskClient

pytestmark = pytest.mark.redis

DEEP = "[" * 5000 + "]" * 5000  # 10,000 bytes: under the default 16 KB frame limit
DEEP_OBJECT = '{"type":"message","cid":"c1","text":"hi","file":' + "[" * 3000 + "]" * 3000 + "}"


def _error_then_pong(ws: Any, raw: str) -> dict[str, Any]:
    ws.send(raw)
    frame = json.loads(ws.recv())
    ws.send(json.dumps({"type": "ping"}))
    assert json.loads(ws.recv()) == {"type": "pong"}, "the connection must stay usable"
    return frame


@pytest.mark.slow
def test_deep_frames_get_an_error_frame_on_every_websocket(stack: Stack) -> None:
    token = stack.token("u1")
    customer = websocket.WebSocket()
    customer.settimeout(10)
    customer.connect(
        f"{stack.chat.ws_url}/ws/customer?service=booking",
        subprotocols=["implus", f"token.{token}"],
    )
    agent = websocket.WebSocket()
    agent.settimeout(10)
    agent.connect(
        f"{stack.chat.ws_url}/ws/agent",
        header=[f"Authorization: Bearer {stack.agent('alice')}"],
    )
    board = websocket.WebSocket()
    board.settimeout(10)
    board.connect(
        f"{stack.chat.ws_url}/ws/supervisor",
        header=[f"Authorization: Bearer {stack.admin_token}"],
    )
    try:
        for ws in (customer, agent, board):
            for raw in (DEEP, DEEP_OBJECT):
                frame = _error_then_pong(ws, raw)
                assert frame["type"] == "error", frame
                assert frame["code"] == "invalid_frame"
                assert "nested too deeply" in frame["message"]
    finally:
        for ws in (customer, agent, board):
            ws.close()


def test_deep_json_bodies_are_a_400(client: FlaskClient, redis_url: str) -> None:
    admin = {"Authorization": f"Bearer {staff_login(fast_accounts(redis_url), 'admin', 'root')}"}
    for method, path, headers in (
        ("POST", "/api/auth/token", {}),
        ("POST", "/api/customer-tokens", admin),
        ("PUT", "/api/agents/alice", admin),
    ):
        r = client.open(
            path,
            method=method,
            data=DEEP,
            headers={**headers, "Content-Type": "application/json"},
        )
        assert r.status_code == 400, (path, r.status_code, r.data[:200])
        assert "nested too deeply" in r.get_json()["message"], path


def test_deep_yaml_strategy_is_a_400(client: FlaskClient, redis_url: str) -> None:
    admin = {"Authorization": f"Bearer {staff_login(fast_accounts(redis_url), 'admin', 'root')}"}
    r = client.put(
        "/api/strategy",
        data="queues: " + DEEP,
        headers={**admin, "Content-Type": "application/yaml"},
    )
    assert r.status_code == 400, r.data[:200]
    assert "nested too deeply" in r.get_json()["message"]
