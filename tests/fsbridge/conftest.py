"""Fixtures for the ESL bridge tests: a whole stack per test (see fsbridge_harness)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from freeswitch_fixture.server import FakeFreeSwitch
from fsbridge_harness import (
    STRATEGY,
    BridgeProcess,
    RouterThread,
    Stack,
    admin_config,
    rendered_dialplan,
    write_config,
)

from admin_config.model import AdminConfig, load_admin_config
from router.client import RouterClient


@pytest.fixture
def config(tmp_path: Path) -> AdminConfig:
    """The admin config of a one-FreeSWITCH stack (ESL on port 8021), loaded; nothing runs."""
    return load_admin_config(write_config(tmp_path, admin_config(8021)))


@pytest.fixture
def stack(redis_url: str, tmp_path: Path) -> Iterator[Stack]:
    fs = FakeFreeSwitch().start()
    router = RouterClient.from_url(redis_url)
    worker = None
    world = None
    try:
        config_path = write_config(tmp_path, admin_config(fs.port, tmp_path / "recordings"))
        config = load_admin_config(config_path)
        fs.calls.use_dialplan(rendered_dialplan(config))
        router.load_strategy(STRATEGY)
        worker = RouterThread(redis_url).start()
        world = Stack(fs, router, config, BridgeProcess(config_path, redis_url, tmp_path / "log"))
        world.start_bridge()
        yield world
        assert world.bridge.alive(), "the bridge process died during the test"
        log = world.bridge.log.read_text(errors="replace")
        assert "Traceback" not in log, f"the bridge logged an unexpected error:\n{log[-6000:]}"
    finally:
        if world is not None:
            world.bridge.stop()
        if worker is not None:
            worker.stop()
        fs.stop()
        router.close()
