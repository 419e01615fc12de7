"""Fixtures for the failover tests: a real Redis Sentinel deployment (redis_ha.py) and the
whole stack on it (ha_stack.py). The chat and ESL bridge test helpers are shared."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
for folder in (HERE.parent / "chat", HERE.parent / "fsbridge"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from ha_stack import HaStack  # noqa: E402
from redis_ha import RedisHA  # noqa: E402


@pytest.fixture
def redis_ha(tmp_path: Path) -> Iterator[RedisHA]:
    """A master, two replicas and three sentinels, on free loopback ports."""
    ha = RedisHA(tmp_path / "redis", replicas=2)
    try:
        ha.start()
        yield ha
    finally:
        ha.stop()


@pytest.fixture
def ha_stack(tmp_path: Path) -> Iterator[HaStack]:
    """The whole stack on the Sentinel deployment (see ha_stack.py)."""
    stack = HaStack(tmp_path)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
