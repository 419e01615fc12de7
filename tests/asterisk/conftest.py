"""The Asterisk sandbox for the bridge's tests: `sandbox` (the session's sandbox, restored
after each test; `asterisk_sandbox` itself is in tests/conftest.py, shared with
tests/callflow) and `call_centre`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from callcentre import CallCentre

from devstack import AsteriskSandbox
from devstack.lab import Lab
from devstack.sipp import Sipp
from router.client import RouterClient


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
