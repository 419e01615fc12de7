"""The scenarios' call centre on Asterisk: the sandbox Asterisk 22 with the dialplan
`implus dialplan apply` generates (devstack/lab.py), sipp phones and customers
(devstack/sipp.py), the `implus ami-bridge` process and the router's worker
(tests/asterisk/callcentre.py provides the parts).

The sandbox is shared by the whole test session (one lock); `AsteriskLab` keeps one
installed admin config per test module and installs again only when a scenario's world
differs, so a scenario costs its calls and a bridge start, not a PBX reload.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from callcentre import PHONE_SETTLE_S, BridgeProcess, CallCentre, wait_steady
from fsbridge_harness import RouterThread
from pbx_drivers import CustomerCall, PbxDriver, Phone, World

from devstack import AsteriskSandbox
from devstack.lab import PBX_ID, Lab, LabAgent, LabEntry
from devstack.sipp import Sipp, SippRun
from router.client import RouterClient

FIRST_ENDPOINT = 1001
FIRST_PORT = 5081


@dataclass
class AsteriskLab:
    """The sandbox with one world installed (module-scoped: reused by its scenarios)."""

    box: AsteriskSandbox
    folder: Path
    installed: str = ""
    lab: Lab | None = None

    def install(self, world: World, strategy: str) -> Lab:
        if self.lab is None or self.installed != world.key():
            self.lab = Lab(
                self.box,
                self.folder,
                agents=[
                    LabAgent(a.id, str(FIRST_ENDPOINT + i), FIRST_PORT + i, dict(a.skills))
                    for i, a in enumerate(world.agents)
                ],
                entries=[
                    LabEntry(e.id, e.extension, e.service, overflow=e.overflow, max_wait=e.max_wait)
                    for e in world.entries
                ],
                services=world.services,
            )
            self.lab.strategy = strategy
            self.lab.install()
            self.installed = world.key()
        return self.lab

    def clean(self) -> None:
        """Leave the sandbox as the other Asterisk tests expect it: no calls, no includes."""
        if not self.box.is_running():
            self.box.up()
        self.box.hangup_all()
        self.box.reset_includes()
        self.box.reload()


class AsteriskCall(CustomerCall):
    def __init__(self, run: SippRun, number: str) -> None:
        self.run, self.number = run, number

    def over(self) -> bool:
        return self.run.proc.poll() is not None

    def check(self) -> None:
        result = self.run.wait(5)
        assert result.ok, f"the call from {self.number}: {result.describe()}"


@dataclass
class AsteriskDriver(PbxDriver):
    lab: AsteriskLab
    redis_url: str
    folder: Path
    kind: str = "asterisk"
    pbx: str = PBX_ID
    phones: dict[str, SippRun] = field(default_factory=dict)
    customers: SippRun | None = None

    def __post_init__(self) -> None:
        self.router = RouterClient.from_url(self.redis_url)
        self.sipp = Sipp(self.lab.box)
        self.cc: CallCentre | None = None
        self.worker: RouterThread | None = None

    def start(self, world: World, strategy: str) -> None:
        lab = self.lab.install(world, strategy)
        self.world = world
        self.cc = CallCentre(
            box=self.lab.box,
            sipp=self.sipp,
            lab=lab,
            client=self.router,
            redis_url=self.redis_url,
            folder=self.folder,
        )
        self.router.load_strategy(strategy)
        self.worker = RouterThread(self.redis_url).start()
        self.cc.bridge = BridgeProcess(lab.config_path, self.redis_url, self.folder / "bridge.log")
        self.cc.bridge.start()

    def stop(self) -> None:
        try:
            if self.cc is not None and self.cc.bridge is not None:
                self.cc.bridge.stop()
            # calls first, phones after: a phone stopped while Asterisk still rings it gets
            # CANCELs for ~32 s, which the next test's phone on that port would read
            if self.lab.box.is_running():
                self.lab.box.hangup_all()
        finally:
            self.sipp.stop_all()
            if self.worker is not None:
                self.worker.stop()
                self.worker.worker.client.close()
            self.router.close()

    def _agent(self, agent: str) -> LabAgent:
        assert self.cc is not None, "start() first"
        return next(a for a in self.cc.lab.agents if a.id == agent)

    def agents_ready(self, phones: dict[str, Phone], desktop: bool = True) -> None:
        assert self.cc is not None
        for agent, phone in phones.items():
            lab_agent = self._agent(agent)
            self.phones[agent] = self.sipp.phone(
                lab_agent.port, phone.behaviour, ring=phone.ring, talk=phone.talk, calls=0
            )
        self.cc.qualify(*(self._agent(a).endpoint for a in phones))
        if desktop:
            self.desktop_online(*phones)
        # steady, not just seen once: see callcentre.PHONE_SETTLE_S
        wait_steady(
            f"the phones of {', '.join(phones)} available in the router",
            lambda: all(self.phone_available(a) for a in phones),
            PHONE_SETTLE_S,
        )

    def phone_idle(self, agent: str) -> bool:
        endpoint = self._agent(agent).endpoint
        return f"PJSIP/{endpoint}-" not in self.lab.box.cli("core show channels concise")

    def rings(self, agent: str) -> int:
        run = self.phones.get(agent)
        return run.result().count("INVITE", "received") if run is not None else 0

    def call(self, extension: str, number: str, hold: float | None = None) -> CustomerCall:
        run = self.sipp.customer_call(extension, caller=number, hold=hold, max_seconds=60)
        return AsteriskCall(run, number)

    def customer_phone(self, phone: Phone) -> None:
        self.customers = self.sipp.customer_phone(
            phone.behaviour, ring=phone.ring, talk=phone.talk, calls=0
        )

    def customers_rung(self) -> list[str]:
        if self.customers is None:
            return []
        invites = [
            m.first_line
            for m in self.customers.result().messages
            if m.method == "INVITE" and m.direction == "received"
        ]
        return [re.sub(r"^sip:([^@;]*).*$", r"\1", i.split()[1]) for i in invites]

    def kill_bridge(self) -> None:
        assert self.cc is not None and self.cc.bridge is not None
        self.cc.bridge.kill()

    def restart_bridge(self) -> None:
        assert self.cc is not None and self.cc.bridge is not None
        self.cc.bridge.start()

    def bridge_log(self) -> str:
        return self.cc.bridge.text() if self.cc is not None and self.cc.bridge else ""
