"""A whole call centre on the sandbox for the bridge's tests: Asterisk + generated dialplan,
real redis-server, an allocation worker, the `implus ami-bridge` process, sipp phones.

Nothing is mocked: the bridge runs as the real command (a subprocess, so a test can kill
it), the worker is the router's own, calls are real SIP calls from sipp.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from devstack import AsteriskSandbox
from devstack.lab import AMI_SECRET, AMI_SECRET_ENV, PBX_ID, Lab
from devstack.sipp import Sipp
from router.client import RouterClient
from router.model import RequestState, RoutingRequest
from router.worker import Worker, WorkerSettings

T = TypeVar("T")

STRATEGY = """\
defaults:
  offer_timeout: {offer_timeout}
  wrapup: {{voice: 0, chat: 0, voip: 0}}
  max_no_answer: 0
  reject_delay: 30
queues:
  booking: {{skills: {{booking: 1}}}}
  billing: {{skills: {{billing: 1}}}}
rules:
  - name: billing
    conditions: service == "billing"
    actions: {{queue: billing}}
  - name: booking
    conditions: "true"
    actions: {{queue: booking}}
    order: highest_skill
"""


def wait_for(what: str, check: Callable[[], T | None], timeout: float = 15) -> T:
    """Poll `check` until it returns something truthy; fail saying `what` never came."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError(f"{what}: not within {timeout} s (last: {last!r})")


PHONE_SETTLE_S = 1.5
"""How long a phone must stay available before a test relies on it. An OPTIONS qualify
Asterisk sent before the sipp phone listened fails up to `qualify_timeout` (1 s) later,
after the test's own qualify succeeded: the phone then reads unavailable for a second and
an offer made meanwhile skips it (seen as a flaky "rung == [alice, bob]")."""


def wait_steady(
    what: str,
    check: Callable[[], bool],
    hold_s: float,
    timeout: float = 15,
    describe: Callable[[], object] | None = None,
) -> None:
    """Poll `check` until it has held for `hold_s` seconds in a row; on failure say how
    often it flipped and what `describe` shows last."""
    deadline = time.monotonic() + timeout + hold_s
    since: float | None = None
    flips = 0
    while time.monotonic() < deadline:
        if check():
            since = since if since is not None else time.monotonic()
            if time.monotonic() - since >= hold_s:
                return
        else:
            flips += since is not None
            since = None
        time.sleep(0.05)
    last = f"; last: {describe()!r}" if describe is not None else ""
    raise AssertionError(
        f"{what}: not steady for {hold_s} s within {timeout} s (lost {flips} time(s){last})"
    )


class WorkerThread:
    """The router's allocation worker, in a thread of the test process."""

    def __init__(self, redis_url: str) -> None:
        self.worker = Worker(RouterClient.from_url(redis_url), settings=WorkerSettings())
        self.thread = threading.Thread(target=self.worker.run, name="router-worker", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.worker.stop()
        self.thread.join(10)
        self.worker.client.close()


@dataclass
class BridgeProcess:
    """`implus ami-bridge` as a child process; its log is kept for assertion messages."""

    config: Path
    redis_url: str
    log: Path
    args: tuple[str, ...] = ()
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self, wait: bool = True) -> None:
        env = dict(os.environ, **{AMI_SECRET_ENV: AMI_SECRET})
        self.starts += 1
        out = open(self.log, "ab")  # noqa: SIM115 - the child owns it
        out.write(f"--- start {self.starts}\n".encode())
        out.flush()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from router.cli import main; main()",
                "ami-bridge",
                "--config",
                str(self.config),
                "--pbx",
                PBX_ID,
                "--redis-url",
                self.redis_url,
                "--sip-ttl",
                "30",
                "--log-level",
                "debug",
                *self.args,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
        out.close()
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout: float = 20) -> None:
        mark = f"--- start {self.starts}\n"
        wait_for(
            "the bridge to log `ready`",
            lambda: self._alive() and " ready: " in self.text().rsplit(mark, 1)[-1],
            timeout,
        )

    def _alive(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"the bridge exited ({self.proc.returncode}):\n{self.tail()}")
        return True

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.text().splitlines()[-lines:])

    def kill(self) -> None:
        """SIGKILL: no clean-up at all, like a crash."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class CallCentre:
    """Everything a bridge test needs, started and stopped by the `call_centre` fixture."""

    box: AsteriskSandbox
    sipp: Sipp
    lab: Lab
    client: RouterClient
    redis_url: str
    folder: Path
    worker: WorkerThread | None = None
    bridge: BridgeProcess | None = None
    notes: list[str] = field(default_factory=list)

    def start(self, offer_timeout: float = 8.0, bridge_args: tuple[str, ...] = ()) -> None:
        self.lab.strategy = STRATEGY.format(offer_timeout=offer_timeout)
        self.lab.install()
        self.client.load_strategy(self.lab.strategy)
        self.worker = WorkerThread(self.redis_url)
        self.worker.start()
        self.bridge = BridgeProcess(
            self.lab.config_path, self.redis_url, self.folder / "bridge.log", bridge_args
        )
        self.bridge.start()

    def stop(self) -> None:
        if self.bridge is not None:
            self.bridge.stop()
        if self.worker is not None:
            self.worker.stop()
        self.sipp.stop_all()

    # --- agents ---------------------------------------------------------------------------

    def desktop_online(self, *agents: str) -> None:
        """What the agent desktop does: available, with a live desktop lease."""
        for agent in agents:
            self.client.heartbeat(agent, source="desktop", ttl=600)
            self.client.set_status(agent, "available")

    def qualify(self, *endpoints: str) -> None:
        for endpoint in endpoints:
            self.box.cli(f"pjsip qualify {endpoint}")

    def wait_phone(self, agent: str, device: str, timeout: float = 15) -> None:
        """Until the router sees the agent's phone as `device` (from the bridge)."""

        def check() -> bool:
            state = self.client.agent(agent)
            if state is None:
                return False
            alive = state.leases.get("sip", 0) > time.time() * 1000
            return state.devices.get("sip") == device and (alive or device == "offline")

        if device == "available":
            wait_steady(f"{agent}'s phone available in the router", check, PHONE_SETTLE_S, timeout)
        else:
            wait_for(f"{agent}'s phone {device} in the router", check, timeout)

    # --- calls ------------------------------------------------------------------------------

    def request_for(self, caller: str) -> RoutingRequest:
        """The routing request of the caller whose number is `caller` (by user id)."""

        def find() -> RoutingRequest | None:
            for session in self.client.history(caller):
                for entry in self.client.transcript(session.id):
                    if entry["type"] == "request" and entry.get("call_id"):
                        request = self.client.request(entry["request"])
                        if request is not None:
                            return request
            return None

        return wait_for(f"a routing request for caller {caller}", find)

    def wait_request(self, request_id: str, state: RequestState, timeout: float = 15) -> None:
        seen: list[RoutingRequest | None] = [None]

        def check() -> RequestState | None:
            request = seen[0] = self.client.request(request_id)
            return request.state if request is not None and request.state is state else None

        try:
            wait_for(f"request {request_id} {state.value}", check, timeout)
        except AssertionError as e:
            request = seen[0]
            now = request.state.value if request is not None else "missing"
            raise AssertionError(f"{e}; it is {now}: {request!r}\n{self.explain()}") from None

    def wait_owner(self, session_id: str, agent: str, timeout: float = 15) -> None:
        def check() -> bool:
            session = self.client.session(session_id)
            return session is not None and session.owner == agent

        wait_for(f"{agent} to own session {session_id}", check, timeout)

    def voice_load(self, agent: str) -> int:
        state = self.client.agent(agent)
        assert state is not None
        return state.load.get("voice", 0)

    def transcript_types(self, session: str) -> list[str]:
        return [e["type"] for e in self.client.transcript(session)]

    def entries(self, session: str, etype: str) -> list[dict[str, Any]]:
        return [e for e in self.client.transcript(session) if e["type"] == etype]

    def live_channels(self) -> str:
        return self.box.cli("core show channels concise")

    def explain(self) -> str:
        """Context for a failed assertion: the router's decisions and the bridge's log."""
        lines = []
        prefix = self.client.keys.request("")
        for key in sorted(self.client.redis.scan_iter(prefix + "*", count=1000)):
            request_id = key[len(prefix) :]
            for trace in self.client.explain(request_id):
                lines.append(f"{request_id}: {json.dumps(trace)[:600]}")
        return "\n".join(
            [
                "",
                "router decisions:",
                *lines,
                "bridge log:",
                self.bridge.tail() if self.bridge else "",
            ]
        )
