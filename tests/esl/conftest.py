"""Fixtures for the ESL tests: the fake FreeSWITCH (threads) and EslClients (gevent).

Nothing here monkey-patches: greenswitch uses gevent's own socket module, the fake switch
uses plain threads and blocking sockets, so the rest of the shared pytest process (asyncio
AMI tests, threaded web tests) is unaffected. `test_gevent_never_monkey_patches` checks it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import gevent
import gevent.monkey
import pytest
from freeswitch_fixture.server import FakeFreeSwitch

from esl_bridge.client import EslClient, EslSettings
from esl_bridge.events import EslEvent


@pytest.fixture(autouse=True)
def _no_monkey_patching() -> Iterator[None]:
    assert not gevent.monkey.is_anything_patched(), "gevent monkey-patching leaked into pytest"
    yield
    assert not gevent.monkey.is_anything_patched(), "a test monkey-patched with gevent"


@pytest.fixture
def fake_fs() -> Iterator[FakeFreeSwitch]:
    with FakeFreeSwitch() as fs:
        yield fs


class Recorder:
    """Collects what an EslClient reports, and waits for it (gevent-friendly waits)."""

    def __init__(self) -> None:
        self.events: list[EslEvent] = []
        self.connected = 0
        self.disconnects: list[Exception] = []

    def wait_for(
        self, predicate: Callable[[], object], timeout: float = 5.0, what: str = ""
    ) -> None:
        with gevent.Timeout(timeout, AssertionError(f"timed out waiting for {what or predicate}")):
            while not predicate():
                gevent.sleep(0.01)


@pytest.fixture
def make_client(fake_fs: FakeFreeSwitch) -> Iterator[Callable[..., tuple[EslClient, Recorder]]]:
    clients: list[EslClient] = []

    def make(**overrides: object) -> tuple[EslClient, Recorder]:
        recorder = Recorder()
        on_connected = overrides.pop("on_connected", None)

        def connected() -> None:
            recorder.connected += 1
            if callable(on_connected):
                on_connected()

        settings = EslSettings(
            port=fake_fs.port,
            backoff_initial=0.02,
            backoff_max=0.1,
            connect_timeout=2.0,
            command_timeout=2.0,
            **overrides,  # type: ignore[arg-type]
        )
        client = EslClient(
            settings,
            recorder.events.append,
            on_connected=connected,
            on_disconnected=recorder.disconnects.append,
        )
        clients.append(client)
        return client, recorder

    yield make
    for client in clients:
        client.stop()


@pytest.fixture
def start_client(
    make_client: Callable[..., tuple[EslClient, Recorder]], fake_fs: FakeFreeSwitch
) -> Callable[..., tuple[EslClient, Recorder]]:
    """Make an EslClient, start it, and wait until the fake switch has it subscribed."""

    def start(**overrides: object) -> tuple[EslClient, Recorder]:
        client, recorder = make_client(**overrides)
        client.start()
        assert client.wait_connected(5)
        fake_fs.wait_for_clients(1)
        return client, recorder

    return start


@pytest.fixture(autouse=True)
def _esl_logs_at_info(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="esl_bridge")
