"""The supervisor API (chat/supervisor_api.py) through the Flask test client on the real
redis-server, a stepped real allocation worker and a real SQLite reports database the sink
fills: the live board, a queue's drill-down, forcing a status, moving a waiting contact,
the last hour and the supervisor-actions report; admins only; clear errors; documented."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from chattest import csrf_of, fast_accounts, login, staff_login
from flask import Flask
from flask.testing import FlaskClient

from chat.accounts import Role
from chat.app import create_app
from reports.db import make_engine, migrate
from reports.sink import Sink
from reports.store import Store
from router.client import RouterClient
from router.keys import Keys
from router.model import AgentProfile, RequestState
from router.worker import Worker

pytestmark = pytest.mark.redis
STRATEGY = """
queues: {booking: {skills: {booking: 1}}, billing: {skills: {billing: 1}}}
rules:
  - {name: booking, conditions: service == "booking", actions: {queue: booking}}
  - {name: billing, conditions: service == "billing", actions: {queue: billing}}
"""


@pytest.fixture
def reports_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'reports.sqlite3'}"
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    return url


@pytest.fixture
def web(chat_config: dict[str, Any], reports_url: str) -> Iterator[FlaskClient]:
    app: Flask = create_app(
        {**chat_config, "reports_database_url": reports_url, "wallboard_history_interval": 0.01},
        start_background=False,
    )
    app.config["TESTING"] = True
    yield app.test_client()
    app.extensions["implus_reports"].close()


@pytest.fixture
def auth(redis_url: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {staff_login(fast_accounts(redis_url), 'admin', 'boss')}"}


class Centre:
    def __init__(self, url: str, reports_url: str) -> None:
        self.client = RouterClient.from_url(url)
        self.worker = Worker(self.client)
        self.worker.start()
        self.url = url
        self.reports_url = reports_url
        self.client.load_strategy(STRATEGY)

    def drain(self) -> None:
        while self.worker.step(block_ms=1):
            pass

    def agent(self, aid: str, skills: dict[str, int], available: bool = True) -> None:
        self.client.upsert_agent(
            AgentProfile(id=aid, name=aid.title(), skills=skills, capacity={"chat": 2, "voice": 1})
        )
        self.client.heartbeat(aid, ttl=600)
        if available:
            assert self.client.set_status(aid, "available")

    def sink(self) -> None:
        engine = make_engine(self.reports_url)
        sink = Sink(
            redis.Redis.from_url(self.url, decode_responses=True), Keys(), Store(engine, b"k")
        )
        assert sink.acquire()
        sink.drain()
        sink.release()
        engine.dispose()


@pytest.fixture
def centre(redis_url: str, reports_url: str) -> Iterator[Centre]:
    c = Centre(redis_url, reports_url)
    yield c
    c.client.close()


def test_board_drill_down_and_actions(web: FlaskClient, auth: dict, centre: Centre) -> None:
    centre.agent("ann", {"booking": 1})
    centre.agent("bill", {"billing": 1}, available=False)
    centre.client.set_status("bill", "away", "training")
    served = centre.client.submit("chat", "booking", "u1")
    centre.drain()
    waiting = centre.client.submit("chat", "booking", "u2")
    centre.client.set_status("ann", "away", "break")  # ann keeps her ringing offer
    centre.drain()

    board = web.get("/api/wallboard", headers=auth).get_json()
    queues = {(q["queue"], q["channel"]): q for q in board["queues"]}
    assert queues[("booking", "chat")]["waiting"] == 1
    agents = {a["id"]: a for a in board["agents"]}
    assert agents["ann"]["activity"] == "away" and agents["ann"]["offers"] == 1
    assert agents["bill"]["reason"] == "training" and agents["bill"]["since"] <= board["now"]

    detail = web.get("/api/wallboard/queues/booking/chat", headers=auth).get_json()
    assert [(c["request"], c["state"], c["ringing"]) for c in detail["contacts"]] == [
        (waiting.request_id, "waiting", ""),
        (served.request_id, "ringing", "ann"),
    ]
    assert [a["id"] for a in detail["agents"]] == ["ann"]  # bill has no booking skill
    assert detail["contacts"][0]["customer"] == "u2"

    # force ann offline: her ringing offer goes back to the queue
    r = web.post("/api/agents/ann/status", json={"status": "offline"}, headers=auth)
    assert r.status_code == 200, r.get_json()
    assert r.get_json() == {
        "agent": "ann",
        "status": "offline",
        "reason": "",
        "previous": "away",
        "signed_out": 0,
    }
    assert centre.client.request(served.request_id).state is RequestState.QUEUED
    # move the waiting contact to billing, where bill (back from training) takes it
    r = web.post(
        f"/api/requests/{waiting.request_id}/move", json={"queue": "billing"}, headers=auth
    )
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["previous"] == "queued"
    centre.client.set_status("bill", "available")
    centre.drain()
    assert centre.client.request(waiting.request_id).agent == "bill"
    [entry] = [e for e in centre.client.transcript(waiting.session_id) if e["type"] == "moved"]
    assert (entry["by"], entry["queue"]) == ("boss", "billing")
    # an answered contact cannot be moved
    offer = centre.client.agent_offers("bill")[0]
    assert centre.client.accept(offer.id, "bill")
    r = web.post(
        f"/api/requests/{waiting.request_id}/move", json={"queue": "booking"}, headers=auth
    )
    assert r.status_code == 409 and "only a waiting contact" in r.get_json()["message"]

    centre.sink()
    history = web.get("/api/wallboard/history", headers=auth).get_json()
    rows = {(q["queue"], q["channel"]): q for q in history["queues"]}
    assert rows[("billing", "chat")]["windows"]["15m"]["answered"] == 1
    assert rows[("booking", "chat")]["series"]["waiting"][-1] == 1  # served waits again
    assert history["as_of"] and history["as_of"] <= time.time() * 1000

    day = time.strftime("%Y-%m-%d", time.gmtime())
    report = web.get(f"/api/reports/supervisor-actions?from={day}", headers=auth).get_json()
    assert [(a["by"], a["action"]) for a in report["rows"]] == [
        ("boss", "moved"),
        ("boss", "set offline"),
    ]
    assert report["rows"][0]["queue"] == "billing" and report["rows"][1]["agent"] == "ann"
    csv_text = web.get(
        f"/api/reports/supervisor-actions?from={day}&format=csv", headers=auth
    ).get_data(as_text=True)
    assert csv_text.splitlines()[0] == (
        "time,by,action,agent,queue,status,reason,previous,channel,request,session"
    )


def test_move_to_an_agent_and_sign_out(
    web: FlaskClient, auth: dict, centre: Centre, redis_url: str
) -> None:
    accounts = fast_accounts(redis_url)
    agent_token = staff_login(accounts, "agent", "ann")
    centre.agent("ann", {"booking": 1}, available=False)
    centre.client.set_status("ann", "away", "x")
    sub = centre.client.submit("chat", "booking", "u1")
    centre.drain()
    r = web.post(f"/api/requests/{sub.request_id}/move", json={"agent_id": "ann"}, headers=auth)
    assert r.status_code == 200 and r.get_json()["agent_id"] == "ann"
    assert centre.client.request(sub.request_id).force_agent == "ann"
    r = web.post(
        "/api/agents/ann/status",
        json={"status": "offline", "reason": "shift over", "sign_out": True},
        headers=auth,
    )
    assert r.get_json()["signed_out"] == 1
    me = web.get("/api/me", headers={"Authorization": f"Bearer {agent_token}"})
    assert me.status_code == 401  # her desktop login is over
    r = web.post(f"/api/requests/{sub.request_id}/move", json={"agent_id": "ann"}, headers=auth)
    assert r.status_code == 409 and "not logged in" in r.get_json()["message"]


@pytest.mark.parametrize(
    ("path", "body", "status", "words"),
    [
        ("/api/agents/ann/status", {"status": "available"}, 400, "status"),
        ("/api/agents/ann/status", {"status": "away"}, 400, "say why"),
        ("/api/agents/ann/status", {"status": "away", "reason": "x" * 201}, 400, "reason"),
        ("/api/agents/ann/status", {"status": "away", "reason": "x", "sign_out": True}, 400,
         "sign_out goes with status offline"),
        ("/api/agents/ann/status", {"status": "offline", "colour": 1}, 400, "colour"),
        ("/api/agents/ghost/status", {"status": "offline"}, 404, "unknown agent"),
        ("/api/agents/bad%20id/status", {"status": "offline"}, 400, "account id"),
        ("/api/requests/nope/move", {"queue": "billing"}, 404, "unknown request"),
        ("/api/requests/nope/move", {"queue": "nowhere"}, 400, "no queue 'nowhere'"),
        ("/api/requests/nope/move", {}, 400, "exactly one"),
        ("/api/requests/nope/move", {"queue": "billing", "agent_id": "ann"}, 400, "exactly one"),
        ("/api/requests/bad:id/move", {"queue": "billing"}, 400, "request id"),
        ("/api/requests/nope/move", [1, 2], 400, "JSON object"),
    ],
)  # fmt: skip
def test_bad_actions_say_what_is_wrong(
    web: FlaskClient, auth: dict, centre: Centre, path: str, body: Any, status: int, words: str
) -> None:
    centre.agent("ann", {"booking": 1})
    r = web.post(path, json=body, headers=auth)
    assert r.status_code == status, r.get_json()
    assert words in r.get_json()["message"]


@pytest.mark.parametrize(
    ("path", "status", "words"),
    [
        ("/api/wallboard/queues/booking/fax", 400, "channel"),
        ("/api/wallboard/queues/nowhere/chat", 404, "no queue"),
        ("/api/reports/supervisor-actions", 400, "start of the range"),
        ("/api/reports/supervisor-actions?from=2026-12-01&colour=1", 400, "colour"),
        ("/api/reports/supervisor-actions?from=2026-12-01&format=xml", 400, "format"),
        ("/api/reports/supervisor-actions?from=2026-12-01&tz=Mars/Base", 400, "Mars/Base"),
    ],
)
def test_bad_queries_say_what_is_wrong(
    web: FlaskClient, auth: dict, centre: Centre, path: str, status: int, words: str
) -> None:
    r = web.get(path, headers=auth)
    assert r.status_code == status, r.get_json()
    assert words in r.get_json()["message"]


def test_supervisor_api_is_for_admins(web: FlaskClient, redis_url: str, centre: Centre) -> None:
    centre.agent("ann", {"booking": 1})
    agent = {"Authorization": f"Bearer {staff_login(fast_accounts(redis_url), 'agent', 'ann')}"}
    for method, path in (
        ("get", "/api/wallboard"),
        ("get", "/api/wallboard/history"),
        ("get", "/api/wallboard/queues/booking/chat"),
        ("post", "/api/agents/ann/status"),
        ("post", "/api/requests/r1/move"),
        ("get", "/api/reports/supervisor-actions?from=2026-12-01"),
    ):
        r = getattr(web, method)(path, json={"status": "offline"}, headers=agent)
        assert r.status_code == 403, (path, r.get_json())
        assert getattr(web, method)(path, json={}).status_code == 401
    assert centre.client.agent("ann").status.value == "available"


def test_cookie_actions_need_the_csrf_token(
    web: FlaskClient, redis_url: str, centre: Centre
) -> None:
    centre.agent("ann", {"booking": 1})
    fast_accounts(redis_url).set_password(Role.ADMIN, "boss", "boss-password")
    assert login(web, "boss", "boss-password", role="admin").status_code == 302
    r = web.post("/api/agents/ann/status", json={"status": "offline"})
    assert r.status_code == 403 and "CSRF" in r.get_json()["message"]
    r = web.post(
        "/api/agents/ann/status", json={"status": "offline"}, headers={"X-CSRF-Token": csrf_of(web)}
    )
    assert r.status_code == 200


def test_history_says_what_to_run_without_a_reports_database(
    chat_config: dict[str, Any], auth: dict, tmp_path: Path
) -> None:
    app = create_app(
        {**chat_config, "reports_database_url": f"sqlite:///{tmp_path / 'none.sqlite3'}"},
        start_background=False,
    )
    r = app.test_client().get("/api/wallboard/history", headers=auth)
    assert r.status_code == 503
    assert "implus reports" in r.get_json()["message"]
    app.extensions["implus_reports"].close()


def test_openapi_documents_the_supervisor_api(client: FlaskClient) -> None:
    spec = client.get("/api/openapi.json").get_json()
    for path, method in (
        ("/api/wallboard", "get"),
        ("/api/wallboard/history", "get"),
        ("/api/wallboard/queues/{queue}/{channel}", "get"),
        ("/api/agents/{agent_id}/status", "post"),
        ("/api/requests/{request_id}/move", "post"),
        ("/api/reports/supervisor-actions", "get"),
    ):
        op = spec["paths"][path][method]
        assert op["security"] and "403" in op["responses"], path
    body = spec["paths"]["/api/agents/{agent_id}/status"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"]["$ref"].endswith("/ForceStatusBody")
    schemas = spec["components"]["schemas"]
    assert schemas["ForceStatusBody"]["properties"]["status"]["enum"] == ["away", "offline"]
    assert "BoardAgent" in schemas and "QueueHistoryOut" in schemas
