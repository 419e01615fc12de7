"""The whole contact centre on a Redis Sentinel deployment, as separate real processes.

`RedisHA` (master, replicas, three sentinels), allocation workers (`implus router`), the
chat service (`implus chat`), the ESL bridge (`python -m esl_bridge`) against the fake
FreeSWITCH, every one of them given only the `redis+sentinel://` URL. Then the checks
the failover tests and the chaos benchmark make after a fault (`Verdict`).

Needs tests/chat (chattest) and tests/fsbridge (fsbridge_harness) on sys.path.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from chattest import STACK_ENV, ChatProcess, api, chat_env, free_port, staff_login
from freeswitch_fixture.phones import Answer
from freeswitch_fixture.server import FakeFreeSwitch
from fsbridge_harness import BridgeProcess, admin_config, rendered_dialplan, write_config
from load import Record
from redis_ha import RedisHA, whole_transcript

from admin_config.model import load_admin_config
from chat.accounts import AccountStore
from chat.keys import ChatKeys
from router.client import RouterClient
from router.connect import redis_from_url
from router.errors import RouterError

STRATEGY = """\
defaults: {offer_timeout: 4, wrapup: {voice: 0, chat: 0, voip: 0}, known_agent_wait: 0}
queues:
  booking: {skills: {booking: 1}}
  webchat: {skills: {webchat: 1}}
rules:
  - {name: chat, conditions: service == "webchat", actions: {queue: webchat}}
  - {name: booking, actions: {queue: booking}}
"""
CHAT_AGENTS = ("cara", "dave")
VOICE_AGENTS = ("anna", "bert")
HEARTBEAT_TTL = "15"
"""Desktop leases longer than a failover takes (docs/scaling.md)."""


def implus() -> str:
    exe = shutil.which("implus", path=str(Path(sys.executable).parent))
    assert exe, "implus is not installed in this venv: pip install -e '.[test]'"
    return exe


class WorkerProcess:
    """An `implus` command in its own process: `implus router` (one allocation worker) by
    default, `implus reports ... sink` for the reports sink."""

    def __init__(self, url: str, log: Path, args: list[str] | None = None) -> None:
        self.args = [implus(), *(args or ["router"]), "--redis-url", url]
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(self.args, stdout=out, stderr=subprocess.STDOUT)
        return self

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@dataclass
class Verdict:
    """What a fault cost, checked on the router's state after the load stopped."""

    acked_lost: int = 0
    """acknowledged messages missing + accepts acknowledged to a desktop but not in force"""
    acked_duplicated: int = 0
    double_assigned: int = 0
    agents_stuck: int = 0
    details: list[str] = field(default_factory=list)


class HaStack:
    def __init__(self, folder: Path, replicas: int = 2, workers: int = 1) -> None:
        self.folder = folder
        self.ha = RedisHA(folder / "redis", replicas=replicas)
        self.fs = FakeFreeSwitch()
        self.n_workers = workers
        self.workers: list[WorkerProcess] = []
        self.chat: ChatProcess | None = None
        self.bridge: BridgeProcess | None = None
        self.sink: WorkerProcess | None = None
        self.router: RouterClient | None = None
        self.tokens: dict[str, str] = {}
        self.accounts: AccountStore | None = None

    @property
    def url(self) -> str:
        return self.ha.url

    def start(self) -> HaStack:
        self.ha.start()
        self.fs.start()
        url = self.ha.url
        config_path = write_config(self.folder, admin_config(self.fs.port))
        config = load_admin_config(config_path)
        self.fs.calls.use_dialplan(rendered_dialplan(config))
        self.router = RouterClient.from_url(url)
        self.router.load_strategy(STRATEGY)
        self.workers = [
            WorkerProcess(url, self.folder / f"router-{i}.log").start()
            for i in range(self.n_workers)
        ]
        env = chat_env(url, self.folder / "uploads", **STACK_ENV)
        env["IMPLUS_CHAT_HEARTBEAT_TTL"] = HEARTBEAT_TTL
        self.chat = ChatProcess(port=free_port(), env=env, log=self.folder / "chat.log")
        self.chat.start()
        self.bridge = BridgeProcess(config_path, url, self.folder / "bridge.log").start()
        self.reports_db = self.folder / "reports.sqlite3"
        self.sink = WorkerProcess(
            url,
            self.folder / "sink.log",
            ["reports", "--database-url", f"sqlite:///{self.reports_db}", "sink"],
        ).start()
        hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
        self.accounts = AccountStore(
            redis_from_url(url, decode_responses=False), ChatKeys("default"), hasher
        )
        self.admin_token = staff_login(self.accounts, "admin", "root")
        for agent in CHAT_AGENTS:
            status, body = api(
                self.chat, "PUT", f"/api/agents/{agent}",
                {"name": agent.title(), "skills": {"webchat": 5},
                 "capacity": {"voice": 0, "chat": 100}},
                bearer=self.admin_token,
            )  # fmt: skip
            assert status in (200, 201), body
            self.tokens[agent] = staff_login(self.accounts, "agent", agent)
        self._wait(lambda: self.router.agent("anna") is not None, "the bridge to push its agents")
        for agent in VOICE_AGENTS:
            self.voice_agent_ready(agent)
        return self

    def voice_agent_ready(self, agent: str) -> None:
        assert self.router is not None
        self.router.heartbeat(agent, source="desktop", ttl=3600)
        self.router.set_status(agent, "available")
        endpoint = {"anna": "2001", "bert": "2002"}[agent]
        if endpoint not in self.fs.calls.phones:
            self.fs.calls.add_phone(endpoint, Answer(after=0.05))
        self._wait(
            lambda: (a := self.router.agent(agent)) is not None and a.devices.get("sip")
            in ("available", "busy"),
            f"{agent}'s phone registered in the router",
            timeout=20,
        )  # fmt: skip

    def customer_token(self, user: str) -> str:
        assert self.chat is not None
        status, body = api(
            self.chat, "POST", "/api/customer-tokens", {"user_id": user, "services": []},
            bearer=self.admin_token,
        )  # fmt: skip
        assert status == 201, body
        return str(body["token"])

    def stop(self) -> None:
        for stop in (
            *(w.stop for w in self.workers),
            self.sink.stop if self.sink else None,
            self.chat.stop if self.chat else None,
            self.bridge.stop if self.bridge else None,
            self.fs.stop,
            self.router.close if self.router else None,
            self.accounts.redis.close if self.accounts else None,
            self.ha.stop,
        ):
            if stop is not None:
                with contextlib.suppress(Exception):
                    stop()

    def _wait(self, predicate: Any, what: str, timeout: float = 15) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            try:
                value = predicate()
            except RouterError:
                value = None
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout} s waiting for {what}")
            time.sleep(0.1)

    def stored_events_since(self, at_ms: int) -> int:
        """Router events the reports sink has written to SQL that happened after `at_ms`."""
        import sqlite3

        with contextlib.closing(sqlite3.connect(self.reports_db)) as db:
            return int(
                db.execute("SELECT count(*) FROM events WHERE at > ?", (at_ms,)).fetchone()[0]
            )

    # --- after a fault: what the router says ----------------------------------------------

    def verdict(self, record: Record, settle_s: float = 15) -> Verdict:
        """Check the acknowledged items, then end every contact the agents know about and
        count agents the router still holds busy (or unavailable while their desktop is
        connected) `settle_s` later. Call after the load stopped and calls were hung up."""
        assert self.router is not None
        router = self.router
        v = Verdict()
        with record.lock:
            acked = dict(record.acked)
            accepted = dict(record.accepted)
        transcripts: dict[str, list[dict[str, Any]]] = {}
        for cid, (_entry, session, _user) in acked.items():
            if session not in transcripts:
                transcripts[session] = self._wait(
                    lambda s=session: whole_transcript(router, s) or None, "a transcript", 30
                )
            n = sum(1 for e in transcripts[session] if e.get("cid") == cid)
            if n == 0:
                v.acked_lost += 1
                v.details.append(f"message {cid} acknowledged but not in session {session}")
            elif n > 1:
                v.acked_duplicated += 1
                v.details.append(f"message {cid} stored {n} times")
        holders: dict[str, list[str]] = {}
        agents = [*CHAT_AGENTS, *VOICE_AGENTS]
        for agent in agents:
            for req in router.agent_contacts(agent):
                holders.setdefault(req.id, []).append(agent)
        for req_id, who in holders.items():
            if len(who) > 1:
                v.double_assigned += 1
                v.details.append(f"request {req_id} held by {who}")
        for session_id, agent in accepted.items():
            owner = router.session(session_id).owner
            if owner != agent:
                v.acked_lost += 1
                v.details.append(f"session {session_id} accepted by {agent}, owner {owner!r}")
        # the agents end the chats they know of (their desktops' "end chat")
        for agent in CHAT_AGENTS:
            for req in router.agent_contacts(agent):
                if req.session_id in accepted or req.session_id in record.offered_at:
                    router.complete(req.id, "done")
        deadline = time.monotonic() + settle_s
        stuck: list[str] = []
        while True:
            stuck = []
            for agent in agents:
                a = router.agent(agent)
                if a is None or a.busy or any(a.load.values()) or a.status.value != "available":
                    stuck.append(
                        f"{agent}: busy {a.busy if a else '?'} load {a.load if a else '?'} "
                        f"{a.status.value if a else 'gone'}"
                    )
            if not stuck or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        v.agents_stuck = len(stuck)
        v.details += [f"stuck: {s}" for s in stuck]
        return v
