"""`implus up`: a whole call centre on this machine, to try implus out (`make demo`).

What it starts, each step reported as it goes:

- a redis-server of its own (loopback, append-only file with ``appendfsync everysec``,
  data under the state folder) - or the one ``--redis-url`` names;
- the Asterisk sandbox (built on first use), with the dialplan `implus dialplan apply`
  generates from a small admin config (entry points 800 booking and 801 billing);
- agent phones: sipp UAS on loopback that answer by themselves after a short ring (alice
  on 1001, bob on 1002), and the customers' phone that answers callbacks;
- the router's allocation worker, the reports sink (history in ``<state>/reports.sqlite3``),
  the chat service (gunicorn) and the AMI bridge, each as its own `implus ...` process
  with its log under ``<state>/logs``;
- chat logins for the agents and an admin, with fresh random passwords printed once.

It then prints what to try, and stays in the foreground watching its children: if one
dies, it says which and shows the end of its log; Ctrl-C stops everything it started
(the Asterisk sandbox keeps running for the next time: `implus sandbox asterisk down`).

``--self-test`` places one call to the booking line, checks the router gave it to alice
and that a chat from the same customer joins the same session, then stops: that is how
the tests check this command.
"""

from __future__ import annotations

import secrets
import shutil
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from .asterisk import AsteriskSandbox
from .errors import SandboxError
from .lab import (
    AMI_SECRET,
    AMI_SECRET_ENV,
    PBX_ID,
    RELAY_SECRET,
    RELAY_SECRET_ENV,
    Lab,
    LabAgent,
    LabEntry,
)
from .processes import Child, StackError, _free, _signals_stop, _wait, implus_argv
from .sipp import Sipp, SippRun

DEFAULT_STATE = Path("~/.cache/implus/demo")

#: The demo's routing strategy (format: docs/strategy.md).
DEMO_STRATEGY = """\
# implus up: the demo's strategy. Edit it and run
#   implus router load-strategy <state>/lab/strategy.yaml --redis-url <url>
# it applies at once, also to requests already waiting.
defaults:
  offer_timeout: 20
  reject_delay: 10
  max_no_answer: 3
  wrapup: {voice: 5, chat: 0, voip: 5}
  known_agent_wait: 30
  queue: booking
queues:
  booking: {skills: {booking: 1}, service_level: 20}
  billing: {skills: {billing: 1}, service_level: 30}
rules:
  - name: vip-booking
    conditions: service == "booking" and customer.vip >= 2
    actions: {queue: booking, priority: 10, skills: {booking: 3}}
    goals:
      - {after: 20, skills: {booking: 1}}
    order: highest_skill
  - name: billing
    conditions: service == "billing"
    actions: {queue: billing}
    order: least_load
  - name: booking
    conditions: "true"
    actions: {queue: booking}
    order: longest_idle
"""

AGENTS = (
    LabAgent("alice", "1001", 5091, {"booking": 3, "billing": 1}, voice=1, chat=3),
    LabAgent("bob", "1002", 5092, {"billing": 4, "booking": 1}, voice=1, chat=2),
    # dave answers in the desktop: a WebRTC softphone (docs/voip.md), no sipp phone
    LabAgent("dave", "3001", 0, {"booking": 2, "billing": 2}, voice=1, chat=3, phone="webrtc"),
)
CHAT_ONLY = {"carol": {"booking": 2, "billing": 2}}
ENTRIES = (
    LabEntry("booking_line", "800", "booking", max_wait=300),
    LabEntry("billing_line", "801", "billing", max_wait=300),
    # the demo page's "Call us" (browser VoIP into the booking queue)
    LabEntry("booking_voip", "810", "booking", max_wait=300, media="voip"),
)

Say = Callable[[str], None]


@dataclass
class Stack:
    """The demo's processes and where their state lives."""

    state: Path
    redis_port: int
    chat_port: int
    redis_url: str | None = None
    say: Say = print
    children: list[Child] = field(default_factory=list)
    phones: list[SippRun] = field(default_factory=list)
    logins: dict[str, str] = field(default_factory=dict)
    box: AsteriskSandbox = field(default_factory=AsteriskSandbox)

    @property
    def logs(self) -> Path:
        return self.state / "logs"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.chat_port}"

    # --- start ---------------------------------------------------------------------------

    def start(self) -> None:
        self.state.mkdir(parents=True, exist_ok=True)
        self.state.chmod(0o700)  # logins and the chat signing key live here
        self._redis()
        self.say("Asterisk sandbox: starting (the first time builds a Debian sid chroot, ~1 min)")
        self.box.up(report=lambda m: self.say(f"  {m}"))
        lab = Lab(
            self.box,
            self.state / "lab",
            agents=list(AGENTS),
            entries=list(ENTRIES),
            strategy=DEMO_STRATEGY,
            record=("booking",),  # booking calls are recorded; the desktop plays them
        )
        self.say("dialplan: rendering the demo's admin config and reloading Asterisk")
        lab.install()
        self._phones()
        self._router_state(lab)
        env = {
            "IMPLUS_REDIS_URL": self._url,
            AMI_SECRET_ENV: AMI_SECRET,
            # the sink writes the history the supervisor page's reports read
            "IMPLUS_REPORTS_DATABASE_URL": f"sqlite:///{self.state / 'reports.sqlite3'}",
            "IMPLUS_CHAT_RECORDINGS_DIRS": f"{PBX_ID}={lab.recordings_folder()}",
        }
        self._spawn("router", ["router", "--redis-url", self._url, "--workers", "1"], env)
        self._spawn("reports-sink", ["reports", "sink", "--redis-url", self._url], env)
        voip = {"IMPLUS_CHAT_VOIP_CONFIG": str(lab.config_path), RELAY_SECRET_ENV: RELAY_SECRET}
        self._spawn_chat({**env, **voip})
        bridge = self._spawn(
            "ami-bridge",
            [
                "ami-bridge",
                "--config",
                str(lab.config_path),
                "--pbx",
                PBX_ID,
                "--redis-url",
                self._url,
            ],
            env,
        )
        _wait(
            "the AMI bridge to log `ready`",
            lambda: " ready: " in bridge.output(),  # this run's, not the last demo's
            30,
            bridge,
        )
        self.say("ami-bridge: ready (phones' states now reach the router)")

    @property
    def _url(self) -> str:
        return self.redis_url or f"redis://127.0.0.1:{self.redis_port}/0"

    def _redis(self) -> None:
        import redis

        if self.redis_url is not None:
            try:
                redis.Redis.from_url(self.redis_url).ping()
            except redis.RedisError as e:
                raise StackError(f"cannot reach Redis at --redis-url: {e}") from None
            self.say("redis: using the one --redis-url names")
            return
        if not _free("127.0.0.1", self.redis_port):
            raise StackError(
                f"port {self.redis_port} on 127.0.0.1 is taken: stop what listens there "
                "or pass --redis-port (or --redis-url to use a Redis you run)"
            )
        server = shutil.which("redis-server")
        if server is None:
            raise StackError("redis-server is not installed: `apt-get install redis-server`")
        data = self.state / "redis"
        data.mkdir(parents=True, exist_ok=True)
        child = self._spawn(
            "redis",
            [
                server,
                "--bind", "127.0.0.1",
                "--port", str(self.redis_port),
                "--dir", str(data),
                "--appendonly", "yes",
                "--appendfsync", "everysec",
                "--save", "",
                "--daemonize", "no",
            ],
            {},
            implus=False,
        )  # fmt: skip
        client = redis.Redis(port=self.redis_port)
        _wait("redis-server to answer PING", client.ping, 10, child)
        self.say(f"redis: {self._url} (append-only file in {data}, fsync every second)")

    def _phones(self) -> None:
        sipp = Sipp(self.box)
        for agent in AGENTS:
            if agent.phone == "webrtc":
                continue
            self.phones.append(
                sipp.phone(agent.port, "answer", ring=2.0, calls=0, max_seconds=86400)
            )
        self.phones.append(sipp.customer_phone("answer", ring=1.0, calls=0, max_seconds=86400))
        self.say(
            "phones: "
            + ", ".join(f"{a.id} on {a.endpoint} (127.0.0.1:{a.port})" for a in AGENTS if a.port)
            + " answer after 2 s; the customers' phone (callbacks) on 127.0.0.2:5070"
        )

    def _router_state(self, lab: Lab) -> None:
        import redis

        from chat.accounts import AccountStore, Role
        from chat.keys import ChatKeys
        from router.client import RouterClient
        from router.model import AgentProfile

        client = RouterClient.from_url(self._url)
        client.load_strategy(DEMO_STRATEGY)
        for agent in AGENTS:  # the bridge pushes them too; chat-only agents only come from here
            client.upsert_agent(
                AgentProfile(
                    id=agent.id, name=agent.id.title(), skills=dict(agent.skills),
                    capacity={"voice": agent.voice, "chat": agent.chat},
                    pbx=PBX_ID, endpoint=agent.endpoint,
                )
            )  # fmt: skip
        for agent_id, skills in CHAT_ONLY.items():
            client.upsert_agent(
                AgentProfile(
                    id=agent_id, name=agent_id.title(), skills=skills,
                    capacity={"voice": 0, "chat": 5},
                )
            )  # fmt: skip
        store = AccountStore(redis.Redis.from_url(self._url), ChatKeys("default"))
        for account in [a.id for a in AGENTS] + list(CHAT_ONLY):
            self.logins[account] = secrets.token_urlsafe(9)
            store.set_password(Role("agent"), account, self.logins[account], account.title())
        self.logins["admin"] = secrets.token_urlsafe(12)
        store.set_password(Role("admin"), "admin", self.logins["admin"], "Supervisor")
        logins = self.state / "logins.txt"
        logins.write_text("".join(f"{k} {v}\n" for k, v in self.logins.items()))
        logins.chmod(0o600)
        self.say(f"router: strategy loaded, {len(AGENTS) + len(CHAT_ONLY)} agents, logins made")

    def _chat_secret(self) -> str:
        path = self.state / "chat-secret"
        if not path.exists():  # kept, so desktop cookies survive a restart of the demo
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip()

    def _spawn_chat(self, env: dict[str, str]) -> None:
        if not _free("127.0.0.1", self.chat_port):
            raise StackError(
                f"port {self.chat_port} on 127.0.0.1 is taken: pass --chat-port another"
            )
        chat = self._spawn(
            "chat",
            [
                "chat", "--host", "127.0.0.1", "--port", str(self.chat_port), "--demo",
                "--redis-url", self._url,
                "--upload-dir", str(self.state / "uploads"),
            ],
            {**env, "IMPLUS_CHAT_SECRET_KEY": self._chat_secret()},
        )  # fmt: skip

        def healthy() -> bool:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as r:  # noqa: S310
                return bool(r.status == 200)

        _wait("the chat service to answer /healthz", healthy, 30, chat)
        self.say(f"chat: {self.url}")

    def _spawn(self, name: str, args: list[str], env: dict[str, str], implus: bool = True) -> Child:
        argv = implus_argv(*args) if implus else args
        child = Child(name, argv, self.logs / f"{name}.log", env).start()
        self.children.append(child)
        return child

    # --- run / stop ----------------------------------------------------------------------

    def next_steps(self) -> str:
        rows = [
            "",
            "implus is up. What to try:",
            f"  customer chat (demo page)  {self.url}/demo",
            f"  agent desktop              {self.url}/login",
        ]
        for account, password in self.logins.items():
            if account != "admin":
                rows.append(f"      {account:<6} {password}")
        rows += [
            f"  supervisor                 {self.url}/supervisor   admin {self.logins['admin']}",
            f"  admin API (OpenAPI)        {self.url}/api/docs",
            "",
            "  Log in as alice, go available, then:",
            "    implus sandbox asterisk call 800 --caller 5551234   # a customer calls booking",
            "    implus sandbox asterisk call 801                    # ... or billing (bob)",
            "  alice's and bob's phones (sipp) answer by themselves after 2 s; the call shows",
            "  in the desktop's timeline, and a chat from user 5551234 joins the same session.",
            "  Browser VoIP (docs/voip.md): on the demo page press 'Call us' (line 810, the",
            "  booking queue); log in as dave for the desktop's softphone (it rings there).",
            "",
            f"  implus router status --redis-url {self._url}"
            "             # queues, agents, recent request ids",
            f"  implus router explain REQUEST_ID --redis-url {self._url}"
            "   # why that agent (the id shows in the desktop too)",
            "",
            f"  logs in {self.logs}; logins in {self.state / 'logins.txt'}",
            "  Ctrl-C stops the demo (the Asterisk sandbox keeps running:"
            " `implus sandbox asterisk down`).",
        ]
        return "\n".join(rows)

    def watch(self, stop_when: Callable[[], bool] = lambda: False) -> None:
        """Until a child dies (StackError) or `stop_when()`."""
        while not stop_when():
            for child in self.children:
                child.check()
            time.sleep(0.5)

    def stop(self) -> None:
        for run in self.phones:
            run.stop()
        for child in reversed(self.children):  # the bridge first, redis last
            child.stop()
        self.children.clear()

    # --- self-test ---------------------------------------------------------------------

    def self_test(self) -> None:
        """One call to the booking line reaches alice; a chat of the caller joins its session."""
        from router.client import RouterClient
        from router.model import RequestState

        client = RouterClient.from_url(self._url)
        client.heartbeat("alice", source="desktop", ttl=120)  # what her desktop does
        client.set_status("alice", "available")
        _wait(
            "alice's phone registered as available in the router (from the bridge)",
            lambda: (
                (s := client.agent("alice")) is not None and s.devices.get("sip") == "available"
            ),
            30,
        )
        caller = f"555{secrets.randbelow(10**6):06d}"
        began = time.monotonic()
        call = Sipp(self.box).customer_call("800", caller=caller, hold=3.0, max_seconds=40)
        self.phones.append(call)

        def accepted() -> Any:
            for session in client.history(caller):
                for request in client.session_requests(session.id):
                    if request.state is RequestState.ACCEPTED and request.agent == "alice":
                        return request
            return None

        request = _wait(f"the call from {caller} accepted by alice", accepted, 30)
        took = time.monotonic() - began
        self.say(f"self-test: call from {caller} answered by alice in {took:.1f} s")
        chat = client.submit("chat", "booking", caller)
        if chat.session_id != request.session_id:
            raise StackError(f"the chat opened session {chat.session_id}, not the call's")
        session = client.session(request.session_id)
        if session is None or session.owner != "alice":
            raise StackError(f"session {request.session_id} is not owned by alice: {session}")
        result = call.wait(30)
        if not result.ok:
            raise StackError(f"the customer's call failed: {result.describe()}")
        self.say(f"self-test: the caller's chat joined session {session.id} (alice's) - passed")


@click.command(name="up")
@click.option(
    "--state",
    type=click.Path(file_okay=False, path_type=Path),
    default=str(DEFAULT_STATE),
    show_default=True,
    help="Folder for the demo's Redis data, logs, logins and uploads.",
)
@click.option("--redis-port", type=int, default=6390, show_default=True,
              help="Port of the demo's own redis-server.")  # fmt: skip
@click.option("--redis-url", default=None, help="Use this Redis instead of starting one.")
@click.option("--chat-port", type=int, default=8080, show_default=True)
@click.option("--self-test", is_flag=True, help="Place one call, check it, stop.")
def up_command(
    state: Path, redis_port: int, redis_url: str | None, chat_port: int, self_test: bool
) -> None:
    """Start a whole local call centre: Redis, Asterisk, phones, router, chat, AMI bridge."""

    def say(message: str) -> None:
        click.echo(f"[implus up] {message}", err=True)

    stack = Stack(state.expanduser().resolve(), redis_port, chat_port, redis_url=redis_url, say=say)
    with _signals_stop() as stop_signals:
        try:
            with stack.box.session_lock(report=say):
                stack.start()
                if self_test:
                    stack.self_test()
                    return
                click.echo(stack.next_steps())
                stack.watch(stop_when=lambda: bool(stop_signals))
                say("stopping")
        except (StackError, SandboxError) as e:
            raise click.ClickException(str(e)) from None
        finally:
            stack.stop()
