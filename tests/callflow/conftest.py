"""Fixtures for the shared scenarios: `pbx`, a call centre on Asterisk or FreeSWITCH.

The drivers reuse the per-bridge harnesses (tests/asterisk/callcentre.py,
tests/fsbridge/fsbridge_harness.py): their folders go on sys.path here, as pytest does for
a folder's own test modules.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent.parent
for folder in ("asterisk", "fsbridge"):
    if str(TESTS / folder) not in sys.path:
        sys.path.insert(0, str(TESTS / folder))

from pbx_driver_asterisk import AsteriskDriver, AsteriskLab  # noqa: E402
from pbx_driver_freeswitch import FreeSwitchDriver  # noqa: E402
from pbx_drivers import PbxDriver  # noqa: E402

from devstack import AsteriskSandbox  # noqa: E402


@pytest.fixture(scope="module")
def asterisk_lab(
    asterisk_sandbox: AsteriskSandbox, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AsteriskLab]:
    """The sandbox with the scenarios' world installed once for the module."""
    lab = AsteriskLab(asterisk_sandbox, tmp_path_factory.mktemp("asterisk-lab"))
    yield lab
    lab.clean()


@pytest.fixture
def pbx(request: pytest.FixtureRequest, redis_url: str, tmp_path: Path) -> Iterator[PbxDriver]:
    """A call centre on the PBX named by the test's parameter (`asterisk` | `freeswitch`),
    on a fresh redis database; `start()` it with the scenario's world."""
    driver: PbxDriver
    if request.param == "asterisk":
        driver = AsteriskDriver(request.getfixturevalue("asterisk_lab"), redis_url, tmp_path)
    else:
        driver = FreeSwitchDriver(redis_url, tmp_path)
    try:
        yield driver
        driver.check_log()
    finally:
        driver.stop()
