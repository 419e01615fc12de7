"""Fixtures for router tests on the real redis-server: a client with a hand-driven clock and
an in-process allocation worker that the test steps until no work is left."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from router.client import RouterClient
from router.model import AgentProfile, Event
from router.worker import Worker, WorkerSettings

T0 = 1_800_000_000_000


class Clock:
    """Milliseconds the test controls; scripts and decisions both read it."""

    def __init__(self, start: int = T0) -> None:
        self.now = start

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * 1000)


@dataclass
class Router:
    client: RouterClient
    worker: Worker
    clock: Clock

    def drain(self, rounds: int = 50) -> None:
        """Step the worker until a few rounds find no work."""
        idle = 0
        for _ in range(rounds):
            if self.worker.step(block_ms=1) == 0:
                idle += 1
                if idle >= 2:
                    return
            else:
                idle = 0

    def agent(
        self,
        aid: str,
        *,
        skills: dict[str, int] | None = None,
        voice: int = 1,
        chat: int = 3,
        available: bool = True,
        phone: bool = True,
        **kw: object,
    ) -> None:
        self.client.upsert_agent(
            AgentProfile(
                id=aid,
                name=aid.title(),
                skills=skills or {},
                capacity={"voice": voice, "chat": chat},
                **kw,
            )
        )  # type: ignore[arg-type]
        self.client.heartbeat(aid, ttl=3600)
        if phone:
            self.client.heartbeat(aid, "sip", ttl=3600, device="available")
        if available:
            assert self.client.set_status(aid, "available")

    def events(self, etype: str | None = None) -> list[Event]:
        out = self.client.read_events("0-0", None, 100_000)
        return [e for e in out if etype is None or e.type == etype]

    def offers_for(self, aid: str) -> list[str]:
        return [o.id for o in self.client.agent_offers(aid)]


@pytest.fixture
def router(redis_url: str) -> Iterator[Router]:
    clock = Clock()
    client = RouterClient.from_url(redis_url, clock=clock)
    worker = Worker(
        client,
        name="test-worker",
        settings=WorkerSettings(
            block_ms=1, timer_interval_ms=0, reaper_interval_ms=0, claim_idle_ms=60_000
        ),
    )
    worker.start()
    yield Router(client, worker, clock)
    client.close()
