"""Fixtures for the chat service: settings, the Flask app on the real redis-server, and a
real `implus chat` process (gunicorn + gevent) for websocket tests."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chattest import SECRET, ChatProcess, chat_env, free_port
from flask import Flask
from flask.testing import FlaskClient

from chat.accounts import AccountStore, Role
from chat.app import create_app
from chat.keys import ChatKeys


@pytest.fixture
def chat_config(redis_url: str, tmp_path: Path) -> dict[str, Any]:
    return {
        "secret_key": SECRET,
        "redis_url": redis_url,
        "upload_dir": str(tmp_path / "uploads"),
        "upload_max_bytes": 200_000,
    }


@pytest.fixture
def app(chat_config: dict[str, Any]) -> Iterator[Flask]:
    application = create_app(chat_config, start_background=False)
    application.config["TESTING"] = True
    return application


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def accounts(rds: Any, redis_url: str) -> AccountStore:
    import redis

    return AccountStore(redis.Redis.from_url(redis_url), ChatKeys("default"))


@pytest.fixture
def admin(accounts: AccountStore) -> tuple[str, str]:
    accounts.set_password(Role.ADMIN, "root", "admin-password-1")
    return "root", "admin-password-1"


@pytest.fixture(scope="module")
def chat_server(
    redis_server: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ChatProcess]:
    """One `implus chat` process per test module (starting one takes a few seconds)."""
    tmp_path = tmp_path_factory.mktemp("chat")
    server = ChatProcess(
        port=free_port(),
        env=chat_env(
            redis_server.url,
            tmp_path / "uploads",
            IMPLUS_CHAT_ALLOWED_ORIGINS="https://shop.example",
            IMPLUS_CHAT_MAX_FRAME_BYTES="4096",
            IMPLUS_CHAT_HARD_FRAME_BYTES="65536",
        ),
        log=tmp_path / "chat.log",
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture
def router_worker(redis_url: str, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A real allocation worker process (`implus router`) on the test's Redis."""
    exe = shutil.which("implus", path=str(Path(sys.executable).parent))
    assert exe, "implus is not installed in this venv: pip install -e '.[test]'"
    with (tmp_path / "router.log").open("ab") as log:
        proc = subprocess.Popen(
            [exe, "router", "--redis-url", redis_url],
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    time.sleep(0.5)
    if proc.poll() is not None:
        raise RuntimeError("router worker exited: " + (tmp_path / "router.log").read_text())
    yield proc
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


def _stack_server(redis_url: str, tmp_path: Path, name: str) -> ChatProcess:
    return ChatProcess(
        port=free_port(),
        env=chat_env(redis_url, tmp_path / "uploads"),
        log=tmp_path / f"{name}.log",
    )


@pytest.fixture
def chat_stack(redis_url: str, router_worker: Any, tmp_path: Path) -> Iterator[ChatProcess]:
    """`implus chat` on a fresh database with a router worker beside it."""
    server = _stack_server(redis_url, tmp_path, "chat-a")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def second_chat(chat_stack: ChatProcess, redis_url: str, tmp_path: Path) -> Iterator[ChatProcess]:
    """A second chat instance on the same Redis and upload folder (another machine, say)."""
    server = _stack_server(redis_url, tmp_path, "chat-b")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def stack_admin(redis_url: str) -> tuple[str, str]:
    import redis

    store = AccountStore(redis.Redis.from_url(redis_url), ChatKeys("default"))
    store.set_password(Role.ADMIN, "root", "admin-password-1")
    return "root", "admin-password-1"
