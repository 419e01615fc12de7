"""Helpers for the chat tests (imported as a plain module: tests/chat is on sys.path)."""

from __future__ import annotations

import os
import shutil
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
            os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
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
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            f = json.loads(self.ws.recv())
            if f["type"] == kind and all(f.get(k) == v for k, v in match.items()):
                return f
            self.seen.append(f)
        raise AssertionError(f"no {kind} frame matching {match}; got {self.seen[-10:]}")

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
