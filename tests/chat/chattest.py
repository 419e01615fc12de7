"""Helpers for the chat tests (imported as a plain module: tests/chat is on sys.path)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient

SECRET = "test-secret-" + "x" * 40
STACK_ENV = {
    "IMPLUS_CHAT_HEARTBEAT_TTL": "6",  # presence renewed every 2 s, lapses 6 s after a close
    "IMPLUS_CHAT_RATE_PER_SECOND": "50",
    "IMPLUS_CHAT_RATE_BURST": "100",
    "IMPLUS_CHAT_STATS_INTERVAL": "0.5",
}
"""The environment of the router-backed chat processes (`stack`)."""


def fast_accounts(redis_url: str) -> Any:
    """An AccountStore whose hashes are cheap to make and check (test logins only)."""
    import redis
    from argon2 import PasswordHasher

    from chat.accounts import AccountStore
    from chat.keys import ChatKeys

    hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    return AccountStore(redis.Redis.from_url(redis_url), ChatKeys("default"), hasher)


def staff_login(accounts: Any, role: str, account_id: str) -> str:
    """Create the login ``<id>-password`` and return a bearer token for it, as the
    /api/auth/token endpoint would (with a login session in Redis)."""
    from chat.accounts import Role
    from chat.staff_sessions import StaffSessions
    from chat.tokens import TokenSigner

    account = accounts.set_password(Role(role), account_id, f"{account_id}-password")
    sessions = StaffSessions(accounts.redis, accounts.keys, 3600)
    session_id = sessions.start(account.role, account.id)
    return TokenSigner(SECRET.encode(), 3600, 3600).staff_token(
        account.id, account.role, account.generation, session_id
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def csrf_of(client: FlaskClient) -> str:
    """Open a page so the session gets a CSRF token, and read it back."""
    client.get("/login")
    with client.session_transaction() as s:
        return str(s["csrf"])


def login(client: FlaskClient, user: str, password: str, role: str = "agent") -> Any:
    return client.post(
        "/login",
        data={"username": user, "password": password, "role": role, "csrf_token": csrf_of(client)},
    )


@dataclass
class ChatProcess:
    """`implus chat` running under gunicorn in its own process group."""

    port: int
    env: dict[str, str]
    args: list[str] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None
    log: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self) -> None:
        exe = shutil.which("implus", path=str(Path(sys.executable).parent))
        assert exe, "implus is not installed in this venv: pip install -e '.[test]'"
        assert self.log is not None
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [exe, "chat", "--port", str(self.port), *self.args],
                env=self.env,
                stdout=out,
                stderr=out,
                start_new_session=True,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"implus chat exited: {self.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.1)
        raise RuntimeError(f"implus chat did not come up: {self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            # SIGQUIT: gunicorn's quick shutdown (SIGTERM would wait for open websockets).
            os.killpg(self.proc.pid, signal.SIGQUIT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


def chat_env(redis_url: str, upload_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMPLUS_CHAT_")}
    env.update(
        IMPLUS_CHAT_SECRET_KEY=SECRET,
        IMPLUS_CHAT_REDIS_URL=redis_url,
        IMPLUS_CHAT_UPLOAD_DIR=str(upload_dir),
        IMPLUS_CHAT_LOG_LEVEL="warning",
        **extra,
    )
    return env


class WsClient:
    """A websocket-client connection that reads JSON frames and waits for a kind of frame."""

    def __init__(
        self, url: str, *, protocols: list[str] | None = None, headers: list[str] | None = None
    ) -> None:
        import websocket

        self.ws = websocket.WebSocket()
        self.ws.settimeout(15)
        self.ws.connect(url, subprotocols=protocols, header=headers or [])
        self.seen: list[dict[str, Any]] = []

    def send(self, frame: dict[str, Any]) -> None:
        import json

        self.ws.send(json.dumps(frame))

    def expect(self, kind: str, timeout: float = 15, **match: Any) -> dict[str, Any]:
        """The next frame of type ``kind`` whose fields equal ``match`` (others are kept)."""
        import json

        for f in self.seen:
            if f["type"] == kind and all(f.get(k) == v for k, v in match.items()):
                self.seen.remove(f)
                return f
        import websocket

        deadline = time.monotonic() + timeout
        try:
            while (left := deadline - time.monotonic()) > 0:
                self.ws.settimeout(left)
                f = json.loads(self.ws.recv())
                if f["type"] == kind and all(f.get(k) == v for k, v in match.items()):
                    return f
                self.seen.append(f)
        except websocket.WebSocketTimeoutException:
            pass
        finally:
            self.ws.settimeout(15)
        raise AssertionError(f"no {kind} frame matching {match}; got {self.seen[-10:]}")

    def frames(self, kind: str) -> list[dict[str, Any]]:
        """Frames of type ``kind`` received so far and not consumed by expect()."""
        return [f for f in self.seen if f["type"] == kind]

    def drain(self, quiet: float = 0.5) -> None:
        """Read until nothing arrives for ``quiet`` seconds (frames go to ``seen``)."""
        import json

        import websocket

        self.ws.settimeout(quiet)
        try:
            while True:
                self.seen.append(json.loads(self.ws.recv()))
        except websocket.WebSocketTimeoutException:
            pass
        finally:
            self.ws.settimeout(15)

    def close(self) -> None:
        self.ws.close()
        self.ws.shutdown()


def customer_ws(server: ChatProcess, token: str, service: str = "booking") -> WsClient:
    return WsClient(
        f"{server.ws_url}/ws/customer?service={service}", protocols=["implus", f"token.{token}"]
    )


def agent_ws(server: ChatProcess, bearer: str) -> WsClient:
    return WsClient(f"{server.ws_url}/ws/agent", headers=[f"Authorization: Bearer {bearer}"])


def api(
    server: ChatProcess, method: str, path: str, body: Any = None, bearer: str | None = None
) -> tuple[int, Any]:
    import json

    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(server.url + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if bearer:
        req.add_header("Authorization", f"Bearer {bearer}")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            raw = r.read()
            return r.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


@dataclass
class Stack:
    """A running chat service (one or two instances), a router worker and the router's
    client on one real redis-server, with helpers that act like the people using it."""

    chat: ChatProcess
    router: Any
    accounts: Any
    admin_token: str
    opened: list[WsClient] = field(default_factory=list)
    tokens: dict[str, str] = field(default_factory=dict)

    def agent(
        self,
        agent_id: str,
        chat: int = 3,
        voice: int = 1,
        skills: dict[str, int] | None = None,
        pbx: str = "",
        endpoint: str = "",
        name: str | None = None,
    ) -> str:
        """Create (or update) the agent through the admin API; returns its bearer token.
        The login is made once (directly, with a cheap hash: argon2's defaults cost half a
        second per hash here), so tokens handed out earlier stay valid."""
        status, body = api(
            self.chat,
            "PUT",
            f"/api/agents/{agent_id}",
            {
                "name": agent_id.title() if name is None else name,
                "skills": skills or {"booking": 5},
                "capacity": {"voice": voice, "chat": chat},
                "pbx": pbx,
                "endpoint": endpoint,
            },
            bearer=self.admin_token,
        )
        assert status in (200, 201), body
        if agent_id not in self.tokens:
            self.tokens[agent_id] = staff_login(self.accounts, "agent", agent_id)
        return self.tokens[agent_id]

    def desktop(
        self, agent_id: str, server: ChatProcess | None = None, available: bool = True, **kw: Any
    ) -> WsClient:
        """The agent's desktop websocket after hello (and going available)."""
        ws = agent_ws(server or self.chat, self.agent(agent_id, **kw))
        self.opened.append(ws)
        ws.send({"type": "hello"})
        ws.expect("welcome")
        if available:
            ws.send({"type": "status", "status": "available"})
            ws.expect("agent_status", status="available")
        return ws

    def token(self, user: str, services: list[str] | None = None) -> str:
        status, body = api(
            self.chat,
            "POST",
            "/api/customer-tokens",
            {"user_id": user, "services": services or []},
            bearer=self.admin_token,
        )
        assert status == 201, body
        return str(body["token"])

    def customer(
        self,
        user: str,
        server: ChatProcess | None = None,
        token: str | None = None,
        after: str | None = None,
        service: str = "booking",
    ) -> WsClient:
        """The customer's widget websocket after hello (its welcome frame is consumed)."""
        ws = customer_ws(server or self.chat, token or self.token(user), service)
        self.opened.append(ws)
        ws.send({"type": "hello", **({"after": after} if after else {})})
        ws.expect("welcome")
        return ws

    def close_all(self) -> None:
        import contextlib

        for ws in self.opened:
            with contextlib.suppress(Exception):  # some were closed by the test already
                ws.close()
        self.opened.clear()


def say(c: WsClient, text: str, cid: str | None = None) -> dict[str, Any]:
    """Send a customer message and wait for its ack."""
    import uuid

    cid = cid or uuid.uuid4().hex
    c.send({"type": "message", "cid": cid, "text": text})
    return c.expect("ack", cid=cid)


def reply(agent: WsClient, session_id: str, text: str, note: bool = False) -> dict[str, Any]:
    import uuid

    cid = uuid.uuid4().hex
    agent.send(
        {"type": "note" if note else "reply", "session_id": session_id, "cid": cid, "text": text}
    )
    return agent.expect("ack", cid=cid)


def take_offer(agent: WsClient, session_id: str, timeout: float = 15) -> dict[str, Any]:
    """Wait for the offer of ``session_id``, accept it, return the session view."""
    offer = agent.expect("offer", timeout=timeout, session_id=session_id)
    agent.send({"type": "accept", "offer_id": offer["offer_id"]})
    return agent.expect("session", session_id=session_id)


def texts_until(c: WsClient, last: str, timeout: float = 15) -> list[str]:
    """Texts of the entries received up to and including the one whose text is ``last``."""
    got: list[str] = []
    deadline = time.monotonic() + timeout
    while last not in got:
        f = c.expect("entry", timeout=max(0.1, deadline - time.monotonic()))
        got.append(f["entry"].get("text", ""))
    return got
