"""Fixtures for router tests on the real redis-server: a client with a hand-driven clock and
an in-process allocation worker that the test steps until no work is left."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from router_harness import Clock, Router, make_router

from router.client import RouterClient


@pytest.fixture
def router(redis_url: str) -> Iterator[Router]:
    clock = Clock()
    r = make_router(RouterClient.from_url(redis_url, clock=clock), clock)
    yield r
    r.client.close()
