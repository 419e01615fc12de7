"""Server-side session revocation: logout, POST /api/auth/revoke, and open websockets of
a revoked session closed with code 4401. Found trying implus as an attacker: a cookie
copied before logout still opened /api/me, /agent and /ws/agent, and bearer tokens could
only be revoked by changing the password."""

from __future__ import annotations

import http.cookiejar
import json
import re
import time
import urllib.parse
import urllib.request
from typing import Any

import pytest
import websocket
from chattest import Stack, api, csrf_of, fast_accounts, login
from flask import Flask
from flask.testing import FlaskClient

from chat.accounts import Role
from chat.app import create_app
from chat.context import ctx

pytestmark = pytest.mark.redis
COOKIE = "implus_chat"


@pytest.fixture
def fast_app(chat_config: dict[str, Any], redis_url: str) -> Flask:
    app = create_app(chat_config, start_background=False)
    app.config["TESTING"] = True
    accounts = fast_accounts(redis_url)
    ctx(app).accounts = accounts
    accounts.set_password(Role.AGENT, "alice", "alice-password")
    accounts.set_password(Role.AGENT, "bob", "bob-password")
    accounts.set_password(Role.ADMIN, "root", "root-password")
    return app


def bearer_of(client: FlaskClient, user: str, role: str = "agent") -> dict[str, str]:
    r = client.post(
        "/api/auth/token", json={"username": user, "password": f"{user}-password", "role": role}
    )
    assert r.status_code == 200, r.get_json()
    return {"Authorization": f"Bearer {r.get_json()['token']}"}


def test_a_cookie_copied_before_logout_opens_nothing_after_it(fast_app: Flask) -> None:
    browser = fast_app.test_client()
    assert login(browser, "alice", "alice-password").status_code == 302
    copied = browser.get_cookie(COOKIE).value
    thief = fast_app.test_client()
    thief.set_cookie(COOKIE, copied)
    assert thief.get("/api/me").status_code == 200  # the copy works while alice is in
    r = browser.post("/logout", data={"csrf_token": csrf_of(browser)})
    assert r.status_code == 302
    assert thief.get("/api/me").status_code == 401
    assert thief.get("/agent").headers["Location"].startswith("/login")
    # alice logs in again: a new session, the copy stays dead
    assert login(browser, "alice", "alice-password").status_code == 302
    assert browser.get("/api/me").status_code == 200
    assert thief.get("/api/me").status_code == 401


def test_a_bearer_token_revokes_itself(fast_app: Flask) -> None:
    client = fast_app.test_client()
    mine, other = bearer_of(client, "alice"), bearer_of(client, "alice")
    r = client.post("/api/auth/revoke", json={}, headers=mine)
    assert (r.status_code, r.get_json()) == (200, {"revoked": 1})
    assert client.get("/api/me", headers=mine).status_code == 401
    assert client.get("/api/me", headers=other).status_code == 200  # one session only


def test_admin_revokes_one_token_or_every_session_of_an_account(fast_app: Flask) -> None:
    client = fast_app.test_client()
    admin = bearer_of(client, "root", "admin")
    first, second = bearer_of(client, "alice"), bearer_of(client, "alice")
    bob = bearer_of(client, "bob")
    browser = fast_app.test_client()
    login(browser, "alice", "alice-password")
    token = first["Authorization"].split()[1]
    r = client.post("/api/auth/revoke", json={"token": token}, headers=admin)
    assert (r.status_code, r.get_json()) == (200, {"revoked": 1})
    assert client.get("/api/me", headers=first).status_code == 401
    assert client.get("/api/me", headers=second).status_code == 200
    r = client.post("/api/auth/revoke", json={"account": "alice", "role": "agent"}, headers=admin)
    assert r.status_code == 200
    assert r.get_json()["revoked"] == 2  # the second token and the browser's cookie
    assert client.get("/api/me", headers=second).status_code == 401
    assert browser.get("/api/me").status_code == 401
    assert client.get("/api/me", headers=bob).status_code == 200  # other accounts untouched
    assert login(browser, "alice", "alice-password").status_code == 302  # she can come back
    assert browser.get("/api/me").status_code == 200


def test_agents_revoke_only_their_own_sessions(fast_app: Flask) -> None:
    client = fast_app.test_client()
    alice, bob = bearer_of(client, "alice"), bearer_of(client, "bob")
    bob_token = bob["Authorization"].split()[1]
    r = client.post("/api/auth/revoke", json={"token": bob_token}, headers=alice)
    assert r.status_code == 403
    r = client.post("/api/auth/revoke", json={"account": "bob", "role": "agent"}, headers=alice)
    assert r.status_code == 403
    assert client.get("/api/me", headers=bob).status_code == 200
    # log out everywhere: alice's own account
    r = client.post("/api/auth/revoke", json={"account": "alice"}, headers=alice)
    assert r.status_code == 200
    assert client.get("/api/me", headers=alice).status_code == 401
    r = client.post("/api/auth/revoke", json={"token": "garbage"}, headers=bob)
    assert r.status_code == 400
    assert client.post("/api/auth/revoke", json={}).status_code == 401


def test_revoke_is_in_the_openapi_document(client: FlaskClient) -> None:
    doc = client.get("/api/openapi.json").get_json()
    op = doc["paths"]["/api/auth/revoke"]["post"]
    assert "RevokeBody" in json.dumps(op["requestBody"])
    assert "4401" in op["description"]


# --- open websockets, over a real `implus chat` ---------------------------------------


def closed_with(ws: websocket.WebSocket, timeout: float = 6) -> tuple[int, float]:
    """Read until the server closes; returns (close code, seconds it took)."""
    start = time.monotonic()
    ws.settimeout(timeout)
    while True:
        frame = ws.recv_frame()
        if frame.opcode == websocket.ABNF.OPCODE_CLOSE:
            return int.from_bytes(frame.data[:2], "big"), time.monotonic() - start


def browser_login(stack: Stack, user: str) -> tuple[urllib.request.OpenerDirector, str, str]:
    """Log in through the form like a browser; returns (opener, cookie, csrf token)."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = fetch(opener, stack.chat.url + "/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    form = urllib.parse.urlencode(
        {"username": user, "password": f"{user}-password", "csrf_token": csrf}
    ).encode()
    fetch(opener, urllib.request.Request(stack.chat.url + "/login", data=form))
    cookie = next(c.value for c in jar if c.name == COOKIE)
    page = fetch(opener, stack.chat.url + "/agent")
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    return opener, cookie, csrf


def fetch(opener: urllib.request.OpenerDirector, req: str | urllib.request.Request) -> str:
    with opener.open(req) as r:
        return str(r.read().decode())


def cookie_ws(stack: Stack, cookie: str) -> websocket.WebSocket:
    ws = websocket.WebSocket()
    ws.connect(f"{stack.chat.ws_url}/ws/agent", header=[f"Cookie: {COOKIE}={cookie}"])
    return ws


@pytest.mark.slow
def test_logout_closes_the_open_desktop_and_the_copied_cookie_opens_none(stack: Stack) -> None:
    stack.agent("alice")
    opener, cookie, csrf = browser_login(stack, "alice")
    desk = cookie_ws(stack, cookie)
    copy = cookie_ws(stack, cookie)  # an attacker's copy of the cookie, open before logout
    fetch(
        opener,
        urllib.request.Request(
            stack.chat.url + "/logout",
            data=urllib.parse.urlencode({"csrf_token": csrf}).encode(),
            headers={"X-CSRF-Token": csrf},
        ),
    )
    for ws in (desk, copy):
        code, took = closed_with(ws)
        ws.close()
        assert code == 4401
        assert took < 5
    with pytest.raises(websocket.WebSocketBadStatusException) as e:
        cookie_ws(stack, cookie)
    assert e.value.status_code == 401


@pytest.mark.slow
def test_revoking_an_account_closes_its_desktops_and_boards(stack: Stack) -> None:
    stack.agent("alice")
    status, body = api(
        stack.chat,
        "POST",
        "/api/auth/token",
        {"username": "alice", "password": "alice-password"},
    )
    assert status == 200, body
    alice = body["token"]
    desk = websocket.WebSocket()
    desk.connect(f"{stack.chat.ws_url}/ws/agent", header=[f"Authorization: Bearer {alice}"])
    board = websocket.WebSocket()
    board.connect(
        f"{stack.chat.ws_url}/ws/supervisor",
        header=[f"Authorization: Bearer {stack.admin_token}"],
    )
    status, body = api(
        stack.chat,
        "POST",
        "/api/auth/revoke",
        {"account": "alice", "role": "agent"},
        bearer=stack.admin_token,
    )
    assert (status, body) == (200, {"revoked": 2})  # this token and the one stack.agent made
    code, took = closed_with(desk)
    desk.close()
    assert (code, took < 5) == (4401, True)
    board.send(json.dumps({"type": "ping"}))  # the admin's board is not affected
    while json.loads(board.recv())["type"] != "pong":
        pass
    status, _ = api(stack.chat, "POST", "/api/auth/revoke", {}, bearer=stack.admin_token)
    assert status == 200
    code, _took = closed_with(board)
    assert code == 4401
    board.close()
