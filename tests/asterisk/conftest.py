"""The Asterisk sandbox for the bridge's tests: `sandbox` (the session's sandbox, restored
after each test; `asterisk_sandbox` itself is in tests/conftest.py, shared with
tests/callflow), `call_centre`, and `tap`, `sipp`, `installed` (the generated dialplan
installed as an admin does the first time).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ami_tap import AmiTap
from callcentre import CallCentre
from dialplan_sandbox import AMI_SECRET_ENV, config_dict, install

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


@pytest.fixture
def tap(sandbox: AsteriskSandbox) -> Iterator[AmiTap]:
    """An AMI connection that records every event (tests/asterisk/ami_tap.py)."""
    t = AmiTap()
    yield t
    t.close()


@pytest.fixture
def sipp(sandbox: AsteriskSandbox) -> Iterator[Sipp]:
    """sipp phones and customers on the sandbox; all stopped after the test."""
    runner = Sipp(sandbox)
    yield runner
    runner.stop_all()


@pytest.fixture
def installed(
    sandbox: AsteriskSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    """The generated files installed the way an admin does the first time: apply without
    reload (the AMI user does not exist yet), then reload once on the PBX."""
    monkeypatch.setenv(AMI_SECRET_ENV, "dialplan-test-secret")
    data = config_dict(sandbox)
    assert install(sandbox, tmp_path, data).written
    return data
