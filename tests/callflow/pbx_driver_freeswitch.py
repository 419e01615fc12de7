"""The scenarios' call centre on FreeSWITCH: the wire-faithful fixture (tests/freeswitch_fixture)
following the dialplan rendered from the scenario's admin config, the `python -m esl_bridge`
process, the router's worker (tests/fsbridge/fsbridge_harness.py provides the parts).

The fixture answers, rings and refuses as told (`Answer`, `Ring`, `Busy`) but has no clocks
of its own for hanging up: `HangUps` plays the customers' `hold` and the phones' `talk`.
"""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path
from typing import Any

import yaml
from freeswitch_fixture.phones import Answer, Behaviour, Busy, Ring
from freeswitch_fixture.server import FakeFreeSwitch
from fsbridge_harness import (
    ESL_PASSWORD_ENV,
    PBX,
    BridgeProcess,
    RouterThread,
    Stack,
    rendered_dialplan,
)
from pbx_drivers import CustomerCall, PbxDriver, Phone, World

from admin_config.model import load_admin_config
from router.client import RouterClient

TRUNK = "carrier"
FIRST_ENDPOINT = 2001


def endpoint_of(world: World, agent: str) -> str:
    index = [a.id for a in world.agents].index(agent)
    return str(FIRST_ENDPOINT + index)


def admin_dict(world: World, fs_port: int) -> dict[str, Any]:
    """The scenario's admin config for the fixture switch (one PBX, one outbound trunk)."""
    return {
        "strategy": "strategy.yaml",
        "pbxs": [
            {
                "id": PBX,
                "kind": "freeswitch",
                "host": "127.0.0.1",
                "port": fs_port,
                "secret_env": ESL_PASSWORD_ENV,
                "domain": "127.0.0.1",
            }
        ],
        "services": [{"id": s} for s in world.services],
        "entry_points": [
            {"id": e.id, "pbx": PBX, "extension": e.extension, "service": e.service,
             "language": "en", "max_wait": e.max_wait, "overflow": e.overflow}
            for e in world.entries
        ],
        "agents": [
            {"id": a.id, "name": a.id.title(), "pbx": PBX, "endpoint": endpoint_of(world, a.id),
             "password_env": "IMPLUS_TEST_SIP", "skills": a.skills}
            for a in world.agents
        ],
        "trunks": [{"id": TRUNK, "pbx": PBX, "host": "carrier.example"}],
    }  # fmt: skip


def behaviour_of(phone: Phone) -> Behaviour:
    if phone.behaviour == "answer":
        return Answer(after=phone.ring)
    if phone.behaviour == "busy":
        return Busy(ring_for=phone.ring)
    return Ring()


class HangUps:
    """The far ends' own hang-ups: a customer `hold` s after its call was answered, a phone
    `talk` s after it answered (what sipp's scenarios do on Asterisk)."""

    def __init__(self, fs: FakeFreeSwitch) -> None:
        self.fs = fs
        self.customers: dict[str, float] = {}  # caller uuid -> when it hangs up (monotonic)
        self.talk: dict[str, float] = {}  # agent phone (user) -> seconds it talks
        self.trunk_talk: float | None = None  # the same for customers behind the trunk
        self.done: set[str] = set()
        self.lock = threading.Lock()
        self.error: Exception | None = None
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="fs-hangups", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            while not self.stopped.wait(0.02):
                self._hang_up_due()
        except Exception as e:  # reported by stop(): a silent thread would stall the test
            self.error = e

    def _hang_up_due(self) -> None:
        now, wall_us = time.monotonic(), time.time() * 1e6
        with self.lock:  # the test thread adds customers meanwhile
            due = [uuid for uuid, at in self.customers.items() if at <= now]
            for uuid in due:
                del self.customers[uuid]
        with self.fs.calls.lock:
            for leg in self.fs.calls.legs.values():
                behind_trunk = leg.profile.startswith("implus-trunk-")
                talk = self.trunk_talk if behind_trunk else self.talk.get(leg.number)
                answered = leg.times.get("answered")
                if (
                    leg.direction == "outbound"
                    and talk is not None
                    and answered
                    and wall_us - answered >= talk * 1e6
                ):
                    due.append(leg.uuid)
        for uuid in due:
            if uuid not in self.done:
                self.done.add(uuid)
                with contextlib.suppress(KeyError):  # gone meanwhile
                    self.fs.calls.hangup(uuid)

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(5)
        if self.error is not None:
            raise AssertionError(f"the fixture's hang-up clock failed: {self.error!r}")


class FsCall(CustomerCall):
    def __init__(self, fs: FakeFreeSwitch, uuid: str, number: str) -> None:
        self.fs, self.uuid, self.number = fs, uuid, number

    def over(self) -> bool:
        return self.fs.calls.leg(self.uuid) is None

    def check(self) -> None:
        assert self.over(), f"the call from {self.number} is still up"


class FreeSwitchDriver(PbxDriver):
    kind = "freeswitch"
    pbx = PBX

    def __init__(self, redis_url: str, folder: Path) -> None:
        self.redis_url = redis_url
        self.folder = folder
        self.router = RouterClient.from_url(redis_url)
        self.fs = FakeFreeSwitch().start()
        self.hangups = HangUps(self.fs)
        self.world: World | None = None
        self.worker: RouterThread | None = None
        self.stack: Stack | None = None
        self.log = folder / "esl-bridge.log"

    def start(self, world: World, strategy: str) -> None:
        self.world = world
        (self.folder / "strategy.yaml").write_text(strategy, encoding="utf-8")
        path = self.folder / "admin.yaml"
        path.write_text(yaml.safe_dump(admin_dict(world, self.fs.port), sort_keys=False))
        config = load_admin_config(path)
        self.fs.calls.use_dialplan(rendered_dialplan(config))
        self.router.load_strategy(strategy)
        self.worker = RouterThread(self.redis_url).start()
        self.stack = Stack(
            self.fs, self.router, config, BridgeProcess(path, self.redis_url, self.log)
        )
        self.stack.start_bridge()

    def stop(self) -> None:
        try:
            self.hangups.stop()
        finally:
            if self.stack is not None:
                self.stack.bridge.stop()
            if self.worker is not None:
                self.worker.stop()
                self.worker.worker.client.close()
            self.fs.stop()
            self.router.close()

    def _endpoint(self, agent: str) -> str:
        assert self.world is not None, "start() first"
        return endpoint_of(self.world, agent)

    def agents_ready(self, phones: dict[str, Phone], desktop: bool = True) -> None:
        for agent, phone in phones.items():
            endpoint = self._endpoint(agent)
            if phone.talk is not None:
                self.hangups.talk[endpoint] = phone.talk
            self.fs.calls.add_phone(endpoint, behaviour_of(phone))
            if desktop:
                self.desktop_online(agent)
        self.wait(
            lambda: all(self.phone_available(a) for a in phones),
            f"the phones of {', '.join(phones)} available in the router",
        )

    def phone_idle(self, agent: str) -> bool:
        endpoint = self._endpoint(agent)
        with self.fs.calls.lock:
            return all(leg.number != endpoint for leg in self.fs.calls.legs.values())

    def rings(self, agent: str) -> int:
        return self.fs.calls.rung.count(("internal", self._endpoint(agent)))

    def call(self, extension: str, number: str, hold: float | None = None) -> CustomerCall:
        uuid = self.fs.calls.dial(extension, number)
        if hold is not None:
            with self.hangups.lock:
                self.hangups.customers[uuid] = time.monotonic() + hold
        return FsCall(self.fs, uuid, number)

    def customer_phone(self, phone: Phone) -> None:
        self.fs.calls.trunk_phone = behaviour_of(phone)
        self.hangups.trunk_talk = phone.talk

    def customers_rung(self) -> list[str]:
        return [user for profile, user in self.fs.calls.rung if profile != "internal"]

    def kill_bridge(self) -> None:
        assert self.stack is not None
        self.stack.bridge.kill()

    def restart_bridge(self) -> None:
        assert self.stack is not None
        self.stack.start_bridge()

    def bridge_log(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""
