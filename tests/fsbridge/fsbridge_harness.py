"""The ESL bridge under test, with real parts around it: the fake FreeSWITCH (following the
dialplan rendered from the same admin YAML), a real redis-server, a real allocation worker,
and the bridge as its own process (`python -m esl_bridge`, gevent patched, as in production).

A module with its own name (not `conftest`): the tests import it directly.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from freeswitch_fixture.server import FakeFreeSwitch

from admin_config.model import AdminConfig
from admin_config.secrets import Secrets
from dialplan.rendering import render
from router.client import RouterClient
from router.worker import Worker, WorkerSettings

ESL_PASSWORD_ENV = "IMPLUS_TEST_FS_ESL"
ESL_PASSWORD = "ClueCon"
PBX = "fs1"

STRATEGY = """\
defaults:
  offer_timeout: 4
  reject_delay: 30
  max_no_answer: 3
  known_agent_wait: 15
  wrapup: {voice: 0, chat: 0, voip: 0}
queues:
  booking: {skills: {booking: 1}}
  billing: {skills: {billing: 1}}
  nobody: {skills: {nobody: 1}}
rules:
  - name: overflowing
    conditions: service == "claims"
    actions: {queue: nobody, overflow: voicemail}
    goals:
      - {after: 1, overflow: true}
  - name: billing
    conditions: service == "billing"
    actions: {queue: billing}
  - name: booking
    conditions: "true"
    actions: {queue: booking}
"""


def admin_config(fs_port: int, recordings: Path | None = None) -> dict[str, Any]:
    """An admin config with one FreeSWITCH (the fake one), entry points, agents, a trunk;
    service `support` (entry 803) records its calls into `recordings`, and supervisor
    `root` has a phone (2009)."""
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
                **({"recordings_dir": str(recordings)} if recordings else {}),
            }
        ],
        "services": [{"id": "booking"}, {"id": "billing"}, {"id": "claims"},
                     {"id": "support", "recording": {
                         "announcement": "ivr/ivr-this_call_may_be_recorded.wav",
                         "retention_days": 30}}],
        "entry_points": [
            {"id": "booking_fs", "pbx": PBX, "extension": "800", "service": "booking",
             "language": "en", "max_wait": 120, "music_class": "local_stream://moh"},
            {"id": "billing_fs", "pbx": PBX, "extension": "801", "service": "billing",
             "language": "de", "max_wait": 120},
            {"id": "claims_fs", "pbx": PBX, "extension": "802", "service": "claims",
             "max_wait": 120, "overflow": "hangup"},
            {"id": "support_fs", "pbx": PBX, "extension": "803", "service": "support",
             "max_wait": 120, "music_class": "local_stream://moh"},
        ],
        "agents": [
            {"id": "anna", "name": "Anna", "pbx": PBX, "endpoint": "2001",
             "password_env": "IMPLUS_TEST_SIP", "skills": {"booking": 3}},
            {"id": "bert", "name": "Bert", "pbx": PBX, "endpoint": "2002",
             "password_env": "IMPLUS_TEST_SIP", "skills": {"booking": 2, "billing": 2}},
            {"id": "chris", "name": "Chris", "pbx": PBX, "endpoint": "2003",
             "password_env": "IMPLUS_TEST_SIP", "skills": {"billing": 5}},
        ],
        "trunks": [
            {"id": "carrier", "pbx": PBX, "host": "carrier.example", "dial_prefix": "0"},
        ],
        "supervisors": [
            {"id": "root", "pbx": PBX, "endpoint": "2009", "password_env": "IMPLUS_TEST_SIP"},
        ],
    }  # fmt: skip


def write_config(folder: Path, data: dict[str, Any]) -> Path:
    (folder / "strategy.yaml").write_text(STRATEGY, encoding="utf-8")
    path = folder / "admin.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def rendered_dialplan(config: AdminConfig) -> dict[str, str]:
    """The FreeSWITCH files `implus dialplan render --pbx fs1` writes (path -> text)."""
    files = render(config, config.pbx(PBX), Secrets({"IMPLUS_TEST_SIP": "sip-secret"}))
    return {f.path: f.content for f in files}


def eventually(
    predicate: Callable[[], object], what: str, timeout: float = 10.0, log: Path | None = None
) -> Any:
    """Wait until `predicate()` is truthy and return it; fail saying `what` (and showing the
    bridge's log) if it never is."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            tail = ""
            if log is not None and log.exists():
                tail = "\n--- bridge log (last 60 lines) ---\n" + "\n".join(
                    log.read_text(errors="replace").splitlines()[-60:]
                )
            raise AssertionError(f"timed out after {timeout} s waiting for {what}{tail}")
        time.sleep(0.02)


class BridgeProcess:
    """`python -m esl_bridge` for one PBX, its output in a log file."""

    def __init__(self, config_path: Path, redis_url: str, log: Path, *extra: str) -> None:
        self.args = [
            sys.executable, "-m", "esl_bridge", "--config", str(config_path), "--pbx", PBX,
            "--redis-url", redis_url, "--sweep-interval", "1", "--presence-ttl", "30",
            "--log-level", "debug", *extra,
        ]  # fmt: skip
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> BridgeProcess:
        env = {**os.environ, ESL_PASSWORD_ENV: ESL_PASSWORD}
        with self.log.open("ab") as out:
            out.write(f"=== start {self.starts + 1} ===\n".encode())
            out.flush()
            self.proc = subprocess.Popen(
                self.args, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=Path.cwd()
            )
        self.starts += 1
        return self

    def kill(self) -> None:
        """SIGKILL: the process dies mid-whatever (a crash, an OOM kill)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class RouterThread:
    """A real allocation worker (router.worker.Worker) in a thread of the test process."""

    def __init__(self, redis_url: str) -> None:
        self.worker = Worker(
            RouterClient.from_url(redis_url),
            name="test-worker",
            settings=WorkerSettings(timer_interval_ms=20, reaper_interval_ms=200),
        )
        self.thread = threading.Thread(target=self.worker.run, name="router", daemon=True)

    def start(self) -> RouterThread:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.worker.stop()
        self.thread.join(10)


class Stack:
    """One test's world: the fake switch, the router, the bridge and helpers to drive them."""

    def __init__(
        self,
        fs: FakeFreeSwitch,
        router: RouterClient,
        config: AdminConfig,
        bridge: BridgeProcess,
    ) -> None:
        self.fs = fs
        self.router = router
        self.config = config
        self.bridge = bridge

    @property
    def calls(self) -> Any:
        return self.fs.calls

    def wait(self, predicate: Callable[[], object], what: str, timeout: float = 10.0) -> Any:
        return eventually(predicate, what, timeout, self.bridge.log)

    def records(self) -> int:
        """How many calls the bridge holds records of (in Redis)."""
        return int(self.router.redis.hlen(self.router.keys.pbx_calls(PBX)))

    def bridge_status(self) -> dict[str, str]:
        return dict(self.router.redis.hgetall(self.router.keys.pbx_bridge(PBX)))

    def start_bridge(self) -> None:
        """Start (again) and wait until it has connected and reconciled."""
        before = self.fs.all_listeners[:]
        self.bridge.start()
        self.wait(
            lambda: any(c.authed and c.events_enabled for c in self.fs.connected() if c not in
                        before) and int(self.bridge_status().get("reconciliations", 0)) >= 1
            and self.bridge_status().get("pid") == str(self.bridge.proc.pid if self.bridge.proc
                                                        else ""),
            "the bridge to connect to the fake FreeSWITCH and reconcile",
            timeout=15,
        )  # fmt: skip

    def agent_ready(self, agent: str, behaviour: Any = None) -> None:
        """The agent's desktop is up, status available, and the phone registered."""
        from freeswitch_fixture.phones import Answer

        endpoint = self.config.agent(agent).endpoint
        assert endpoint
        self.router.heartbeat(agent, source="desktop", ttl=300)
        self.router.set_status(agent, "available")
        self.calls.add_phone(endpoint, behaviour or Answer(after=0.05))
        self.wait(
            lambda: (
                (a := self.router.agent(agent)) is not None
                and a.devices.get("sip") in ("available", "busy")  # busy: a waiting call took it
                and a.leases.get("sip", 0) > time.time() * 1000
            ),
            f"{agent}'s phone to be registered in the router",
        )

    def requests_for_call(self, call_id: str) -> list[Any]:
        """The routing requests filed for PBX call `call_id`, oldest first (router events)."""
        return [
            self.router.request(e.get("request"))
            for e in self.router.read_events("0-0", None, 100000)
            if e.type == "request.created" and e.get("call_id") == call_id
        ]

    def request_for_call(self, call_id: str) -> Any:
        """The latest routing request filed for PBX call `call_id`."""
        found = self.requests_for_call(call_id)
        return found[-1] if found else None

    def wait_request(self, call_id: str, state: str, timeout: float = 10.0) -> Any:
        """Wait until call `call_id`'s latest request is in `state`; return it."""
        return self.wait(
            lambda: (
                (r := self.request_for_call(call_id)) is not None and r.state.value == state and r
            ),
            f"the request of call {call_id} to be {state}",
            timeout,
        )

    def transcript_types(self, session_id: str) -> list[str]:
        return [e["type"] for e in self.router.transcript(session_id)]

    def call_entries(self, session_id: str, call_id: str | None = None) -> list[dict[str, Any]]:
        return [
            e
            for e in self.router.transcript(session_id)
            if e["type"].startswith("call.") and (call_id is None or e.get("call_id") == call_id)
        ]

    def session_of_user(self, user: str, service: str) -> Any:
        return self.wait(
            lambda: self.router.open_session(user, service), f"an open {service} session of {user}"
        )
