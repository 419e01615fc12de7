"""The admin HTTP API through the Flask test client on the real redis-server: agents are
router profiles (plus a desktop login), strategies are loaded into the router, refusals
come back as clear 4xx answers. A real allocation worker is stepped in-process."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from chattest import fast_accounts, staff_login
from flask.testing import FlaskClient

from router.client import RouterClient
from router.worker import Worker

pytestmark = pytest.mark.redis


@pytest.fixture
def admin_headers(redis_url: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {staff_login(fast_accounts(redis_url), 'admin', 'root')}"}


@pytest.fixture
def router(redis_url: str) -> Iterator[RouterClient]:
    client = RouterClient.from_url(redis_url)
    yield client
    client.close()


AGENT = {"name": "Alice", "skills": {"booking": 3}, "capacity": {"voice": 1, "chat": 2}}


def test_agents_are_created_updated_and_listed(
    client: FlaskClient, admin_headers: dict[str, str], router: RouterClient
) -> None:
    r = client.put(
        "/api/agents/alice", json=AGENT | {"password": "alice-password"}, headers=admin_headers
    )
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["has_login"] is True
    profile = router.agent("alice").profile
    assert (profile.skills, profile.capacity) == ({"booking": 3}, {"voice": 1, "chat": 2})
    r = client.put(
        "/api/agents/alice",
        json=AGENT | {"capacity": {"voice": 0, "chat": 5}, "pbx": "ast1", "endpoint": "1001"},
        headers=admin_headers,
    )
    assert r.status_code == 200
    assert router.agent("alice").profile.capacity == {"voice": 0, "chat": 5}
    [listed] = client.get("/api/agents", headers=admin_headers).get_json()
    assert (listed["id"], listed["pbx"], listed["status"]) == ("alice", "ast1", "offline")
    # the new login works on the real login endpoint
    r = client.post("/api/auth/token", json={"username": "alice", "password": "alice-password"})
    assert r.status_code == 200


@pytest.mark.parametrize(
    ("path", "body", "words"),
    [
        ("/api/agents/alice", {"capacity": {"fax": 1}}, "capacity.fax"),
        ("/api/agents/alice", {"skills": {"booking": -1}}, "skills.booking"),
        ("/api/agents/alice", {"colour": "red"}, "colour"),
        ("/api/agents/alice", {"password": "short"}, "password"),
        ("/api/agents/bad%20id", {}, "account id"),
    ],
)
def test_bad_agent_bodies_say_what_is_wrong(
    client: FlaskClient, admin_headers: dict[str, str], path: str, body: Any, words: str
) -> None:
    r = client.put(path, json=body, headers=admin_headers)
    assert r.status_code == 400
    assert words in r.get_json()["message"]


def test_agents_api_needs_an_admin(client: FlaskClient, redis_url: str) -> None:
    agent = staff_login(fast_accounts(redis_url), "agent", "bob")
    r = client.put("/api/agents/alice", json=AGENT, headers={"Authorization": f"Bearer {agent}"})
    assert r.status_code == 403
    assert client.put("/api/agents/alice", json=AGENT).status_code == 401


def test_removing_a_busy_agent_is_refused_until_it_is_free(
    client: FlaskClient, admin_headers: dict[str, str], router: RouterClient
) -> None:
    assert client.put("/api/agents/alice", json=AGENT, headers=admin_headers).status_code == 201
    router.heartbeat("alice", ttl=60)
    assert router.set_status("alice", "available")
    sub = router.submit("chat", "booking", "u1")
    worker = Worker(router)
    worker.start()
    while worker.step(block_ms=1):
        pass
    [offer] = router.agent_offers("alice")
    r = client.delete("/api/agents/alice", headers=admin_headers)
    assert r.status_code == 409
    assert "in progress" in r.get_json()["message"]
    assert router.agent("alice") is not None
    assert router.reject(offer.id, "alice")
    router.cancel(sub.request_id)
    r = client.delete("/api/agents/alice", headers=admin_headers)
    assert r.status_code == 204
    assert router.agent("alice") is None
    assert client.get("/api/agents/alice", headers=admin_headers).status_code == 404


GOOD = """\
queues:
  booking: {skills: {booking: 1}, service_level: 30}
rules:
  - name: vip
    conditions: customer.vip > 1
    actions: {queue: booking, priority: 10}
  - name: rest
    actions: {queue: booking}
"""


def test_strategy_is_loaded_or_refused_with_every_problem(
    client: FlaskClient, admin_headers: dict[str, str], router: RouterClient
) -> None:
    yaml_headers = admin_headers | {"Content-Type": "application/yaml"}
    r = client.put("/api/strategy", data=GOOD, headers=yaml_headers)
    assert r.status_code == 200, r.get_json()
    version = r.get_json()["version"]
    assert router.strategy().version == version
    assert router.strategy().queue_names == ["booking"]
    bad = GOOD.replace("priority: 10", "priority: 1000").replace("level: 30", "level: -1")
    r = client.put("/api/strategy", data=bad, headers=yaml_headers)
    assert r.status_code == 400
    body = r.get_json()
    assert body["error"] == "invalid_strategy"
    assert len(body["problems"]) == 2, body
    assert "rules[0] (vip).actions.priority" in body["problems"][1]
    assert "queues.booking.service_level" in body["problems"][0]
    r = client.put(
        "/api/strategy", data=GOOD.replace("booking, pr", "nowhere, pr"), headers=yaml_headers
    )
    assert r.status_code == 400
    assert "nowhere" in "\n".join(r.get_json()["problems"])
    assert router.strategy().version == version  # the live strategy is untouched
    r = client.put("/api/strategy", data=b"rules: [", headers=yaml_headers)
    assert r.status_code == 400
    assert r.get_json()["problems"]
    r = client.put("/api/strategy", json={"rules": []}, headers=admin_headers)
    assert r.status_code == 400
    assert "application/yaml" in r.get_json()["message"]


def test_queue_statistics(
    client: FlaskClient, admin_headers: dict[str, str], router: RouterClient
) -> None:
    router.load_strategy(GOOD)
    for user in ("u1", "u2"):
        router.submit("chat", "booking", user)
    worker = Worker(router)
    worker.start()
    while worker.step(block_ms=1):
        pass
    stats = client.get("/api/queues", headers=admin_headers).get_json()
    [chat] = [q for q in stats if (q["queue"], q["channel"]) == ("booking", "chat")]
    assert chat["waiting"] == 2
    assert chat["free_agents"] == 0
    assert chat["longest_wait_s"] >= 0
    spec = client.get("/api/openapi.json").get_json()
    assert "problems" in spec["components"]["schemas"]["ErrorOut"]["properties"]
