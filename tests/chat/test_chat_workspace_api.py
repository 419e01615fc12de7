"""The agent workspace's HTTP side through the Flask test client on the real redis-server:
canned replies (admins manage, agents read), customer profiles from the token API, the
transfer picker's targets, the search across a customer's history, the widget's config,
upload limits in words, the API reference page, the favicon, and the login that finds the
admin account behind the default "Agent" choice."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from chattest import csrf_of, fast_accounts, staff_login
from flask.testing import FlaskClient

from router.client import RouterClient

pytestmark = pytest.mark.redis


@pytest.fixture
def router(redis_url: str) -> Iterator[RouterClient]:
    client = RouterClient.from_url(redis_url)
    client.load_strategy("queues: {booking: {}, billing: {}}\nrules: []\n")
    yield client
    client.close()


@pytest.fixture
def admin_h(redis_url: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {staff_login(fast_accounts(redis_url), 'admin', 'root')}"}


@pytest.fixture
def agent_h(redis_url: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {staff_login(fast_accounts(redis_url), 'agent', 'alice')}"}


REPLY = {"shortcut": "hello", "title": "Greeting", "text": "Hello {customer}, I am {agent}."}


def test_canned_replies_admins_manage_agents_read(
    client: FlaskClient, admin_h: dict[str, str], agent_h: dict[str, str]
) -> None:
    r = client.put("/api/canned-replies/greet", json=REPLY, headers=admin_h)
    assert r.status_code == 201, r.get_json()
    r = client.put("/api/canned-replies/greet", json=REPLY | {"title": "Hi"}, headers=admin_h)
    assert r.status_code == 200
    # agents read them, but may not change them
    assert client.get("/api/canned-replies", headers=agent_h).get_json() == [
        {"id": "greet", **REPLY, "title": "Hi"}
    ]
    assert client.put("/api/canned-replies/x", json=REPLY, headers=agent_h).status_code == 403
    # one shortcut names one reply; bad bodies say which field is wrong
    r = client.put("/api/canned-replies/other", json=REPLY, headers=admin_h)
    assert (r.status_code, r.get_json()["error"]) == (400, "shortcut_taken")
    assert "/hello" in r.get_json()["message"]
    r = client.put("/api/canned-replies/b", json=REPLY | {"shortcut": "Has Space"}, headers=admin_h)
    assert r.status_code == 400 and "shortcut" in r.get_json()["message"]
    assert (
        client.put("/api/canned-replies/bad%20id", json=REPLY, headers=admin_h).status_code == 400
    )
    assert client.delete("/api/canned-replies/greet", headers=admin_h).status_code == 204
    assert client.delete("/api/canned-replies/greet", headers=admin_h).status_code == 404
    assert client.get("/api/canned-replies").status_code == 401


def test_customer_profile_rides_with_the_token_into_routing_and_the_context(
    client: FlaskClient, admin_h: dict[str, str], router: RouterClient, app
) -> None:
    profile = {"name": "Zoë Weiß", "language": "de-DE", "tags": ["gold", "de"], "vip": 3}
    r = client.post(
        "/api/customer-tokens",
        json={"user_id": "u7", "services": ["booking"], "profile": profile},
        headers=admin_h,
    )
    assert r.status_code == 201, r.get_json()
    r = client.post(
        "/api/customer-tokens", json={"user_id": "u7", "profile": {"vip": 11}}, headers=admin_h
    )
    assert r.status_code == 400 and "profile.vip" in r.get_json()["message"]
    from chat.context import ctx

    with app.app_context():
        svc = ctx(app).service
        sid = svc.ensure_session("u7", "booking")
        [request] = router.session_requests(sid)
        assert request.customer == profile  # strategies can match customer.vip / tags
        context = svc.customer_context(sid, "u7")
    assert (context["name"], context["vip"], context["tags"]) == ("Zoë Weiß", 3, ["gold", "de"])
    assert context["requests"][0]["id"] == request.id  # for `implus router explain`


def test_transfer_targets_are_queues_and_available_agents(
    client: FlaskClient, agent_h: dict[str, str], admin_h: dict[str, str], router: RouterClient
) -> None:
    for agent, chat in (("alice", 3), ("bob", 2), ("carol", 2), ("dave", 0)):
        body = {"name": agent.title(), "capacity": {"voice": 0, "chat": chat}}
        assert client.put(f"/api/agents/{agent}", json=body, headers=admin_h).status_code in (
            200,
            201,
        )
    for agent in ("alice", "bob", "dave"):
        router.heartbeat(agent, source="desktop", ttl=60)
        router.set_status(agent, "available")
    targets = client.get("/api/transfer-targets", headers=agent_h).get_json()
    assert targets["queues"] == ["billing", "booking"]
    # not alice herself, not carol (offline), not dave (no chat slot)
    assert targets["agents"] == [
        {"id": "bob", "name": "Bob", "status": "available", "free_chats": 2}
    ]


def test_history_search_is_for_the_customers_an_agent_serves(
    client: FlaskClient, agent_h: dict[str, str], admin_h: dict[str, str], router: RouterClient
) -> None:
    sub = router.submit("chat", "booking", "u9")
    router.append(
        sub.session_id, {"type": "message", "from": "customer", "text": "My Booking 4711 is wrong"}
    )
    router.append(sub.session_id, {"type": "note", "from": "agent", "text": "called the hotel"})
    r = client.get("/api/customers/u9/history?q=booking", headers=admin_h)
    [hit] = r.get_json()
    assert (hit["session_id"], hit["from"], hit["type"]) == (sub.session_id, "customer", "message")
    assert "Booking 4711" in hit["snippet"]
    assert (
        client.get("/api/customers/u9/history?q=HOTEL", headers=admin_h).get_json()[0]["type"]
        == "note"
    )
    # alice serves nobody: she may not search u9's history
    assert client.get("/api/customers/u9/history?q=booking", headers=agent_h).status_code == 403
    r = client.get("/api/customers/u9/history?q=b", headers=admin_h)
    assert r.status_code == 400 and "2 to 200" in r.get_json()["message"]


def test_widget_config_says_why_a_site_may_not_embed(chat_config) -> None:
    from chat.app import create_app

    app = create_app(
        chat_config | {"allowed_origins": "https://shop.example"}, start_background=False
    )
    c = app.test_client()
    ok = c.get("/widget/config", headers={"Origin": "https://shop.example"}).get_json()
    assert ok["origin_allowed"] is True and ok["greeting"] and ok["upload_limit"] == "195 KB"
    assert ok["call_me"] is False  # no agent has a phone on a PBX
    assert ok["voip"] is False  # no voip_config: the widget does not load its VoIP part
    r = c.get("/widget/config", headers={"Origin": "https://evil.example"})
    assert r.headers["Access-Control-Allow-Origin"] == "*"  # readable, so the widget can say why
    body = r.get_json()
    assert body["origin_allowed"] is False and "greeting" not in body
    assert "https://evil.example" in body["message"] and "allowed_origins" in body["message"]


def test_an_upload_over_the_limit_names_the_limit(client: FlaskClient, app) -> None:
    import io

    from chat.context import ctx

    token = ctx(app).tokens.customer_token("u1")
    big = b"\x89PNG\r\n\x1a\n" + b"0" * 400_000  # over MAX_CONTENT_LENGTH (limit + 64 KB)

    r = client.post(
        "/widget/files?service=booking",
        data={"file": (io.BytesIO(big), "big.png")},
        headers={"Authorization": f"Bearer {token}"},
        content_type="multipart/form-data",
    )
    assert r.status_code == 413
    assert r.get_json() == {
        "error": "file_too_large",
        "message": "the file is larger than the 195 KB limit: send a smaller one",
    }


def test_api_docs_page_and_favicon(client: FlaskClient) -> None:
    page = client.get("/api/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    text = page.get_data(as_text=True)
    for path in ("/api/canned-replies/{reply_id}", "/api/transfer-targets", "/api/agents"):
        assert f"<code>{path}</code>" in text
    assert "CannedReplyBody" in text
    with client.get("/favicon.ico") as icon:
        assert icon.status_code == 200 and icon.mimetype == "image/svg+xml"
        assert icon.get_data().startswith(b"<svg")


def test_an_admin_who_left_agent_ticked_logs_in_as_admin(client: FlaskClient, accounts) -> None:
    from chat.accounts import Role

    accounts.set_password(Role.ADMIN, "boss", "boss-password-1")
    r = client.post(
        "/login",
        data={
            "username": "boss",
            "password": "boss-password-1",
            "role": "agent",
            "csrf_token": csrf_of(client),
        },
    )
    assert r.status_code == 302 and r.headers["Location"].endswith("/supervisor")
    r = client.post(
        "/login",
        data={
            "username": "boss",
            "password": "wrong-password",
            "role": "agent",
            "csrf_token": csrf_of(client),
        },
    )
    assert r.status_code == 401 and b"Wrong user name or password" in r.data
