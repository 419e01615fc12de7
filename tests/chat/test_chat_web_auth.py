"""Logins, cookies, bearer tokens and CSRF through the Flask test client on real Redis."""

from __future__ import annotations

import pytest
from chattest import csrf_of, login

from chat.accounts import AccountStore, Role

pytestmark = pytest.mark.redis


def test_login_page_and_security_headers(client) -> None:
    r = client.get("/login")
    assert r.status_code == 200
    assert "default-src 'self'" in r.headers["Content-Security-Policy"]
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["X-Frame-Options"] == "SAMEORIGIN"


def test_login_needs_csrf(client, accounts: AccountStore) -> None:
    accounts.set_password(Role.AGENT, "alice", "alice-password")
    r = client.post("/login", data={"username": "alice", "password": "alice-password"})
    assert r.status_code == 403
    assert "CSRF" in r.get_json()["message"]


def test_agent_login_cookie_and_desktop(client, accounts: AccountStore) -> None:
    accounts.set_password(Role.AGENT, "alice", "alice-password")
    assert login(client, "alice", "wrong-password").status_code == 401
    r = login(client, "alice", "alice-password")
    assert r.status_code == 302
    assert r.headers["Location"] == "/agent"
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert client.get("/agent").status_code == 200
    assert client.get("/api/me").get_json() == {"id": "alice", "role": "agent"}
    assert client.get("/supervisor").status_code == 403  # agents are not admins


def test_open_redirect_refused(client, accounts: AccountStore) -> None:
    accounts.set_password(Role.AGENT, "alice", "alice-password")
    r = client.post(
        "/login",
        data={
            "username": "alice",
            "password": "alice-password",
            "csrf_token": csrf_of(client),
            "next": "//evil.example/x",
        },
    )
    assert r.headers["Location"] == "/agent"


def test_password_change_revokes_cookie(client, accounts: AccountStore) -> None:
    accounts.set_password(Role.AGENT, "alice", "alice-password")
    login(client, "alice", "alice-password")
    accounts.set_password(Role.AGENT, "alice", "another-password")
    r = client.get("/agent")
    assert r.status_code == 302
    assert r.headers["Location"].startswith("/login")


def test_pages_redirect_to_login_but_api_answers_json(client) -> None:
    assert client.get("/agent").headers["Location"].startswith("/login?next=/agent")
    r = client.get("/api/me")
    assert (r.status_code, r.get_json()["error"]) == (401, "auth_error")
    assert "Bearer" in r.headers["WWW-Authenticate"]


def test_bearer_token_flow(client, admin) -> None:
    r = client.post(
        "/api/auth/token", json={"username": admin[0], "password": admin[1], "role": "admin"}
    )
    assert r.status_code == 200, r.get_json()
    token = r.get_json()["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/me", headers=bearer).get_json() == {"id": "root", "role": "admin"}
    # bearer calls need no CSRF token
    r = client.post(
        "/api/customer-tokens", json={"user_id": "u42", "services": ["booking"]}, headers=bearer
    )
    assert r.status_code == 201
    assert r.get_json()["role"] == "customer"
    assert client.get("/api/me", headers={"Authorization": "Bearer garbage"}).status_code == 401


def test_bad_credentials_and_bad_bodies(client, admin) -> None:
    r = client.post("/api/auth/token", json={"username": "root", "password": "nope"})
    assert r.status_code == 401
    assert r.get_json()["error"] == "bad_credentials"
    r = client.post("/api/auth/token", data="not json")
    assert r.status_code == 400
    assert "JSON object" in r.get_json()["message"]
    r = client.post("/api/auth/token", json={"username": "root"})
    assert r.status_code == 400
    assert "password" in r.get_json()["message"]


def test_customer_tokens_only_for_admins(client, accounts: AccountStore) -> None:
    accounts.set_password(Role.AGENT, "alice", "alice-password")
    token = client.post(
        "/api/auth/token", json={"username": "alice", "password": "alice-password"}
    ).get_json()["token"]
    r = client.post(
        "/api/customer-tokens", json={"user_id": "u1"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert r.status_code == 403


def test_cookie_post_to_api_needs_csrf(client, admin) -> None:
    login(client, *admin, role="admin")
    r = client.post("/api/customer-tokens", json={"user_id": "u1"})
    assert r.status_code == 403
    r = client.post(
        "/api/customer-tokens", json={"user_id": "u1"}, headers={"X-CSRF-Token": csrf_of(client)}
    )
    assert r.status_code == 201


def test_demo_tokens_are_off_by_default(client) -> None:
    r = client.post("/widget/demo-token", json={"user_id": "u42"})
    assert r.status_code == 403
    assert "demo mode is off" in r.get_json()["message"]


def test_demo_tokens_when_enabled(chat_config) -> None:
    from chat.app import create_app

    app = create_app(chat_config | {"demo_mode": True}, start_background=False)
    c = app.test_client()
    r = c.post("/widget/demo-token", json={"user_id": "u42"})
    assert r.status_code == 200
    assert r.get_json()["token"]
    r = c.post("/widget/demo-token", json={"user_id": "<script>"})
    assert r.status_code == 400


def test_openapi_document(client) -> None:
    doc = client.get("/api/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    assert {"/api/agents", "/api/strategy", "/api/queues", "/api/customer-tokens"} <= set(
        doc["paths"]
    )
    assert "AgentBody" in doc["components"]["schemas"]


def test_every_api_route_is_documented(app) -> None:
    doc_paths = set(app.test_client().get("/api/openapi.json").get_json()["paths"])
    for rule in app.url_map.iter_rules():
        path = rule.rule.replace("<", "{").replace(">", "}")
        if path.startswith("/api/") and not path.startswith("/api/sessions/"):
            assert path in doc_paths, f"{path} is missing from the OpenAPI document"


def test_metrics_endpoint(client) -> None:
    r = client.get("/metrics")
    assert r.status_code == 200
    assert b"implus_chat_connections" in r.data
