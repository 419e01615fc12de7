"""Shared fixtures: a real redis-server on a free loopback port, one per test session, and
the Asterisk sandbox (tests/asterisk, tests/callflow).

Tests never mock Redis. The server runs with an append-only file in a temp folder so
durability tests can restart it over the same data.

`asterisk_sandbox` brings the sandbox up through the same API as `implus sandbox
asterisk up` (building the chroot on first use), holding an fcntl lock for the whole
session: several test sessions on this machine (other worktrees, CI) share 5038/5060 and
queue up here. If the sandbox cannot start, every test that needs it FAILS with the
reason; nothing is skipped. Include files are emptied at the start and at the end. It
lives here, once, because two fixtures of the same name in two folders would take the
lock twice in one process.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from devstack import AsteriskSandbox, SandboxError


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RedisServer:
    """A redis-server process the tests own; `restart()` keeps its data (AOF)."""

    port: int
    workdir: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            raise RuntimeError(
                "redis-server is not installed: run `make deps` (apt-get install redis-server)"
            )
        self.proc = subprocess.Popen(
            [
                exe,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.workdir),
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
                "--save",
                "",
                "--protected-mode",
                "yes",
                "--loglevel",
                "warning",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                redis.Redis(port=self.port, socket_timeout=1).ping()
                return
            except redis.ConnectionError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"redis-server exited with {self.proc.returncode}") from None
                time.sleep(0.05)
        raise RuntimeError("redis-server did not answer PING within 10 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(port=free_port(), workdir=tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The server's URL with an empty database for this test."""
    r = redis.Redis.from_url(redis_server.url)
    r.flushall()
    r.close()
    return redis_server.url


@pytest.fixture
def rds(redis_url: str) -> Iterator[redis.Redis]:
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    yield r
    r.close()


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where tests write screenshots and logs worth keeping (CI uploads this folder)."""
    path = Path(os.environ.get("IMPLUS_TEST_ARTIFACTS", "test-artifacts")).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def asterisk_sandbox(request: pytest.FixtureRequest) -> Iterator[AsteriskSandbox]:
    capture = request.config.pluginmanager.getplugin("capturemanager")

    def say(message: str) -> None:
        with capture.global_and_fixture_disabled():
            print(f"\n[asterisk sandbox] {message}", flush=True)

    box = AsteriskSandbox()
    with box.session_lock(report=say):
        was_running = box.is_running()
        try:
            box.up(report=say)
            box.hangup_all()
            box.reset_includes()
            box.reload()
        except SandboxError as e:
            pytest.fail(
                f"the Asterisk sandbox cannot start: {e}\n(`make sandbox` builds and starts "
                "it; `implus sandbox asterisk status` tells what is missing)",
                pytrace=False,
            )
        yield box
        if not box.is_running():  # a test stopped or killed it: leave it as we found it
            box.up(report=say)
        box.reset_includes()
        if was_running:
            box.reload()
        else:
            box.down(report=say)
