"""Call control, listening in and recordings over the chat service's HTTP API: who may (the
agent on the call, supervisors; not another agent, a customer, a revoked login), what
reaches the PBX's command stream (nothing for bad or hostile input), range downloads of
recordings, and deleting recordings past their retention."""

from __future__ import annotations

import os
import time
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from chattest import SECRET, csrf_of, fast_accounts, login
from flask import Flask
from flask.testing import FlaskClient

from chat.accounts import Role
from chat.app import create_app
from chat.context import ctx
from chat.recordings import RecordingStore
from chat.tokens import TokenSigner
from router.client import RouterClient
from router.model import AgentProfile

pytestmark = pytest.mark.redis

STRATEGY = """
defaults: {queue: booking, offer_timeout: 30, wrapup: {voice: 0, chat: 0}}
queues:
  booking: {skills: {booking: 1}}
  billing: {skills: {billing: 1}}
rules:
  - {name: all, conditions: "true", actions: {queue: booking}}
"""
FILE = "booking/2026-12-01/17.1-1796600000000.wav"


@pytest.fixture
def admin_yaml(tmp_path: Path) -> Path:
    """An admin YAML that gives booking a 30-day retention and supervisor root a phone."""
    (tmp_path / "strategy.yaml").write_text("rules: []\n")
    data = {
        "strategy": "strategy.yaml",
        "pbxs": [{"id": "ast1", "kind": "asterisk", "secret_env": "X_AMI"}],
        "services": [{"id": "booking", "recording": {"retention_days": 30}}, {"id": "billing"}],
        "supervisors": [
            {"id": "root", "pbx": "ast1", "endpoint": "1900", "contact": "sip:1900@127.0.0.1"}
        ],
    }
    path = tmp_path / "admin.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture
def app(redis_url: str, tmp_path: Path, admin_yaml: Path) -> Flask:
    application = create_app(
        {
            "secret_key": SECRET,
            "redis_url": redis_url,
            "upload_dir": str(tmp_path / "uploads"),
            "admin_config": str(admin_yaml),
            "recordings_dirs": f"ast1={tmp_path / 'recordings'}",
        },
        start_background=False,
    )
    application.config["TESTING"] = True
    accounts = fast_accounts(redis_url)
    ctx(application).accounts = accounts
    for role, who in ((Role.AGENT, "alice"), (Role.AGENT, "bob"), (Role.ADMIN, "root")):
        accounts.set_password(role, who, f"{who}-password")
    return application


@pytest.fixture
def call(redis_url: str, router_worker: Any) -> Iterator[dict[str, str]]:
    """A voice call on PBX ast1 that alice answered (bob is another agent)."""
    router = RouterClient.from_url(redis_url)
    deadline = time.monotonic() + 10
    while not router.redis.hget(router.keys.strategy(), "version"):  # the worker's default
        assert time.monotonic() < deadline, "the worker did not start"
        time.sleep(0.02)
    router.load_strategy(STRATEGY)
    for agent in ("alice", "bob"):
        router.upsert_agent(
            AgentProfile(agent, agent.title(), {"booking": 1}, pbx="ast1", endpoint=agent)
        )
        router.heartbeat(agent, ttl=600)
        router.heartbeat(agent, "sip", ttl=600, device="available")
    router.set_status("alice", "available")
    sub = router.submit("voice", "booking", "5550100", pbx="ast1", call_id="17.1")
    deadline = time.monotonic() + 10
    while not (offers := router.agent_offers("alice")):
        assert time.monotonic() < deadline, "no offer for alice"
        time.sleep(0.02)
    assert router.accept(offers[0].id, "alice")
    yield {"session": sub.session_id, "request": sub.request_id}
    router.close()


def bearer(client: FlaskClient, user: str, role: str = "agent") -> dict[str, str]:
    r = client.post(
        "/api/auth/token", json={"username": user, "password": f"{user}-password", "role": role}
    )
    assert r.status_code == 200, r.get_json()
    return {"Authorization": f"Bearer {r.get_json()['token']}"}


def commands(redis_url: str) -> list[dict[str, str]]:
    router = RouterClient.from_url(redis_url)
    rows = router.redis.xrange(router.keys.pbx_commands("ast1"))
    router.close()
    return [f for _, f in rows if f["type"] in ("call_control", "supervise", "hold")]


def test_the_agent_on_the_call_controls_it(app: Flask, call: dict[str, str], redis_url: str):
    client = app.test_client()
    alice = bearer(client, "alice")
    url = f"/api/sessions/{call['session']}/call"
    r = client.post(url, json={"action": "hold"}, headers=alice)
    assert r.status_code == 202, r.get_json()
    assert r.get_json()["request_id"] == call["request"] and r.get_json()["command_id"]
    r = client.post(
        url,
        json={"action": "consult", "target_kind": "number", "target": "+4930123"},
        headers=alice,
    )
    assert r.status_code == 202, r.get_json()
    sent = commands(redis_url)
    assert [(c["action"], c["by"], c.get("target", "")) for c in sent] == [
        ("hold", "alice", ""),
        ("consult", "alice", "+4930123"),
    ]
    timeline = client.get(f"/api/sessions/{call['session']}", headers=alice).get_json()
    requested = [e for e in timeline["entries"] if e["type"] == "call.control"]
    assert [(e["action"], e["state"]) for e in requested] == [
        ("hold", "requested"),
        ("consult", "requested"),
    ]
    # the desktop's transfer picker: queues and the other agents
    targets = client.get("/api/call-transfer-targets", headers=alice).get_json()
    assert targets["queues"] == ["billing", "booking"]
    assert [a["id"] for a in targets["agents"]] == ["bob"]
    # a blind transfer to a queue is the router's own (no PBX command but `hold`)
    r = client.post(
        url, json={"action": "transfer", "target_kind": "queue", "target": "billing"}, headers=alice
    )
    assert r.status_code == 202 and r.get_json()["request_id"] != call["request"]
    assert commands(redis_url)[-1]["type"] == "hold"
    r = client.post(url, json={"action": "hold"}, headers=alice)
    assert r.status_code == 409  # no call in progress any more: the transfer took it
    assert "no call in progress" in r.get_json()["message"]


def test_others_are_refused(app: Flask, call: dict[str, str], redis_url: str) -> None:
    client = app.test_client()
    url = f"/api/sessions/{call['session']}/call"
    r = client.post(url, json={"action": "hangup"}, headers=bearer(client, "bob"))
    assert r.status_code == 403, r.get_json()  # another agent
    token = TokenSigner(SECRET.encode(), 3600, 3600).customer_token("5550100", ("booking",), 600)
    r = client.post(url, json={"action": "hangup"}, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401  # a customer
    assert client.post(url, json={"action": "hangup"}).status_code == 401  # nobody
    alice = bearer(client, "alice")
    assert client.post("/api/auth/revoke", json={}, headers=alice).status_code == 200
    r = client.post(url, json={"action": "hangup"}, headers=alice)
    assert r.status_code == 401  # a revoked login
    browser = app.test_client()
    login(browser, "alice", "alice-password")
    r = browser.post(url, json={"action": "hold"})
    assert r.status_code == 403 and "CSRF" in r.get_json()["message"]
    r = browser.post(url, json={"action": "hold"}, headers={"X-CSRF-Token": csrf_of(browser)})
    assert r.status_code == 202  # the desktop: cookie + CSRF token
    r = browser.post(
        f"/api/sessions/{call['session']}/supervise",
        json={"mode": "listen"},
        headers={"X-CSRF-Token": csrf_of(browser)},
    )
    assert r.status_code == 403  # agents do not listen in
    assert client.get("/api/live-calls", headers=bearer(client, "bob")).status_code == 403
    # a supervisor may act on anyone's call
    root = bearer(client, "root", "admin")
    assert client.post(url, json={"action": "resume"}, headers=root).status_code == 202
    assert [c["by"] for c in commands(redis_url)] == ["alice", "root"]


@pytest.mark.parametrize(
    "payload",
    [
        {"action": "jump"},
        {"action": "hold", "extra": 1},
        {"action": "transfer"},
        {"action": "transfer", "target_kind": "number", "target": "555;0100"},
        {"action": "transfer", "target_kind": "number", "target": "555&PJSIP/evil"},
        {"action": "consult", "target_kind": "number", "target": "${system(id)}"},
        {"action": "consult", "target_kind": "agent", "target": "bob,1"},
        {"action": "consult", "target_kind": "agent", "target": "x-pre-process\n"},
        {"action": "consult", "target_kind": "queue", "target": "billing"},
        {"action": "hold", "target_kind": "number", "target": "123"},
        {"action": "consult", "target_kind": "agent", "target": "nobody"},
        ["hold"],
    ],
)
def test_bad_and_hostile_input_is_refused_and_reaches_no_pbx(
    app: Flask, call: dict[str, str], redis_url: str, payload: Any
) -> None:
    client = app.test_client()
    r = client.post(
        f"/api/sessions/{call['session']}/call", json=payload, headers=bearer(client, "alice")
    )
    assert r.status_code in (400, 409), r.get_json()
    assert r.get_json()["message"]
    assert commands(redis_url) == []


def test_supervisors_listen_in_with_a_phone(
    app: Flask, call: dict[str, str], redis_url: str, accounts: Any
) -> None:
    client = app.test_client()
    root = bearer(client, "root", "admin")
    url = f"/api/sessions/{call['session']}/supervise"
    r = client.post(url, json={"mode": "whisper"}, headers=root)
    assert r.status_code == 202, r.get_json()
    [sent] = commands(redis_url)
    assert (sent["type"], sent["mode"], sent["supervisor"]) == ("supervise", "whisper", "root")
    assert client.post(url, json={"mode": "shout"}, headers=root).status_code == 400
    fast_accounts(redis_url).set_password(Role.ADMIN, "boss", "boss-password")
    r = client.post(url, json={"mode": "listen"}, headers=bearer(client, "boss", "admin"))
    assert r.status_code == 400 and r.get_json()["error"] == "no_phone"
    live = client.get("/api/live-calls", headers=root).get_json()
    assert [(c["session_id"], c["agent"], c["channel"]) for c in live] == [
        (call["session"], "alice", "voice")
    ]


def _recording(folder: Path, seconds: float = 2.0) -> Path:
    path = folder / FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x01\x00" * int(8000 * seconds))
    return path


def test_recordings_for_staff_who_handled_the_call_with_ranges(
    app: Flask, call: dict[str, str], redis_url: str, tmp_path: Path
) -> None:
    wav = _recording(tmp_path / "recordings")
    router = RouterClient.from_url(redis_url)
    started = router.append(  # what the PBX bridge writes when it starts recording
        call["session"],
        {"type": "call.recording", "state": "started", "file": FILE, "pbx": "ast1"},
    )
    hostile = router.append(
        call["session"],
        {"type": "call.recording", "state": "started", "file": "../../etc/passwd", "pbx": "ast1"},
    )
    router.close()
    client = app.test_client()
    url = f"/api/sessions/{call['session']}/recordings/{started.entry_id}"
    alice = bearer(client, "alice")

    def get(path: str, headers: dict[str, str]) -> tuple[int, bytes, Any]:
        r = client.get(path, headers=headers)
        try:
            return r.status_code, r.get_data(), r.headers
        finally:
            r.close()  # the file it sent

    status, data, headers = get(url, alice)
    assert status == 200 and headers["Content-Type"] == "audio/wav"
    assert data == wav.read_bytes()
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Accept-Ranges"] == "bytes"
    status, data, headers = get(url, {**alice, "Range": "bytes=44-143"})
    assert status == 206
    assert headers["Content-Range"] == f"bytes 44-143/{wav.stat().st_size}"
    assert data == wav.read_bytes()[44:144]
    assert get(url, bearer(client, "root", "admin"))[0] == 200
    assert get(url, bearer(client, "bob"))[0] == 403
    token = TokenSigner(SECRET.encode(), 3600, 3600).customer_token("5550100", ("booking",), 600)
    assert get(url, {"Authorization": f"Bearer {token}"})[0] == 401
    other = f"/api/sessions/{call['session']}/recordings/{hostile.entry_id}"
    assert get(other, alice)[0] == 404
    assert get(f"{url[:-3]}9-9", alice)[0] == 404
    assert get(url.rsplit("/", 1)[0] + "/x.wav", alice)[0] == 400
    # customers never see recording entries, live or replayed
    from chat.visibility import for_customer

    assert for_customer({"type": "call.recording", "file": FILE}) is None
    wav.unlink()
    assert get(url, alice)[0] == 404  # deleted after its retention


def test_recordings_past_their_retention_are_deleted(
    app: Flask, tmp_path: Path, admin_yaml: Path
) -> None:
    store = ctx(app).calls.store
    assert store.retention_days == {"booking": 30}
    folder = tmp_path / "recordings"
    old = _recording(folder)
    other = folder / "billing/2026-01-01/9.9-1.wav"  # no retention in the YAML: the default
    other.parent.mkdir(parents=True)
    other.write_bytes(b"RIFF")
    stray = folder / "booking/README"  # never a recording: left alone
    stray.write_text("x")
    now = time.time()
    os.utime(old, (now - 31 * 86400, now - 31 * 86400))
    os.utime(other, (now - 31 * 86400, now - 31 * 86400))
    assert store.prune(now, dry_run=True) == [old]
    assert old.exists()
    assert store.prune(now) == [old]
    assert not old.exists() and not old.parent.exists() and other.exists() and stray.exists()
    os.utime(other, (now - 91 * 86400, now - 91 * 86400))
    assert RecordingStore(store.dirs, {}, 90).prune(now) == [other]


def test_prune_recordings_command(tmp_path: Path, admin_yaml: Path, redis_url: str) -> None:
    from click.testing import CliRunner

    from chat.cli import chat_command

    old = _recording(tmp_path / "recordings")
    os.utime(old, (time.time() - 40 * 86400,) * 2)
    env = {
        "IMPLUS_CHAT_SECRET_KEY": SECRET,
        "IMPLUS_CHAT_REDIS_URL": redis_url,
        "IMPLUS_CHAT_ADMIN_CONFIG": str(admin_yaml),
        "IMPLUS_CHAT_RECORDINGS_DIRS": f"ast1={tmp_path / 'recordings'}",
    }
    runner = CliRunner()
    dry = runner.invoke(chat_command, ["prune-recordings", "--dry-run"], env=env)
    assert dry.exit_code == 0, dry.output
    assert str(old) in dry.output and old.exists()
    done = runner.invoke(chat_command, ["prune-recordings"], env=env)
    assert done.exit_code == 0 and not old.exists()
    bad = runner.invoke(
        chat_command,
        ["prune-recordings"],
        env={**env, "IMPLUS_CHAT_RECORDINGS_DIRS": "ast1"},
    )
    assert bad.exit_code != 0 and "pbx=/folder" in bad.output
