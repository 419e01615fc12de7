"""The Asterisk sandbox for tests: one real Asterisk 22 on loopback, one test session at a time.

`asterisk_sandbox` brings the sandbox up through the same API as `implus sandbox
asterisk up` (building the chroot on first use), holding an fcntl lock for the whole
session: several test sessions on this machine (other worktrees, CI) share 5038/5060 and
queue up here. If the sandbox cannot start, every test that needs it FAILS with the
reason; nothing is skipped. Include files are emptied at the start and at the end.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from callcentre import CallCentre

from devstack import AsteriskSandbox, SandboxError
from devstack.lab import Lab
from devstack.sipp import Sipp
from router.client import RouterClient


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


@pytest.fixture
def sandbox(asterisk_sandbox: AsteriskSandbox) -> Iterator[AsteriskSandbox]:
    """The session's sandbox; after each test: running again, no calls, empty includes."""
    yield asterisk_sandbox
    if not asterisk_sandbox.is_running():
        asterisk_sandbox.up()
    asterisk_sandbox.hangup_all()
    asterisk_sandbox.reset_includes()
    asterisk_sandbox.reload()


@pytest.fixture
def call_centre(sandbox: AsteriskSandbox, redis_url: str, tmp_path: Path) -> Iterator[CallCentre]:
    """The sandbox as a call centre (configure `lab.agents` / `lab.entries`, then
    `start()`): generated dialplan, router worker, the `implus ami-bridge` process."""
    client = RouterClient.from_url(redis_url)
    centre = CallCentre(
        box=sandbox,
        sipp=Sipp(sandbox),
        lab=Lab(sandbox, tmp_path / "lab", agents=[], entries=[]),
        client=client,
        redis_url=redis_url,
        folder=tmp_path,
    )
    yield centre
    centre.stop()
    client.close()
