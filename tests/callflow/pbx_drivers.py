"""One call centre on either PBX: what the shared scenarios (test_scenarios.py) do to a PBX.

A scenario says, in the call centre's words, who is ready with which phone, who calls which
entry point and for how long, and what the router and the session transcript must show
afterwards. `PbxDriver` is that vocabulary; two implementations carry it out with real parts:

- `AsteriskDriver` (pbx_driver_asterisk.py): the Asterisk 22 sandbox with the dialplan
  `implus dialplan apply` generates, sipp phones and customers, the `implus ami-bridge`
  process (tests/asterisk/callcentre.py, devstack/lab.py, devstack/sipp.py);
- `FreeSwitchDriver` (pbx_driver_freeswitch.py): the wire-faithful FreeSWITCH fixture
  following the rendered dialplan, the `python -m esl_bridge` process
  (tests/fsbridge/fsbridge_harness.py).

Both run the router's own allocation worker in a thread on a fresh redis database, and
read the outcome from the router only (requests, offers, agents, transcripts), never from
the bridge's insides: what is compared is what the rest of implus sees.
"""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from router.client import RouterClient
from router.model import AgentState, RequestState, RoutingRequest

T = TypeVar("T")

Behaviour = Literal["answer", "no_answer", "busy"]


@dataclass(frozen=True)
class Phone:
    """How a phone (an agent's, or a customer's behind the trunk) reacts when rung:
    `answer` after ringing `ring` s, `no_answer` (rings until the caller gives up) or
    `busy` (486 / USER_BUSY). `talk`: seconds after its answer before it hangs up itself;
    None waits for the far end."""

    behaviour: Behaviour = "answer"
    ring: float = 0.2
    talk: float | None = None


@dataclass(frozen=True)
class AgentSpec:
    id: str
    skills: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class EntrySpec:
    """An entry point: customers dial `extension`; `overflow` is its configured overflow,
    where a caller goes after `max_wait` seconds."""

    id: str
    extension: str
    service: str
    overflow: str = "hangup"
    max_wait: int = 120


@dataclass(frozen=True)
class World:
    """The admin config of a scenario (both drivers render it for their PBX)."""

    agents: tuple[AgentSpec, ...]
    entries: tuple[EntrySpec, ...]

    @property
    def services(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(e.service for e in self.entries))

    def key(self) -> str:
        return json.dumps(
            [
                [(a.id, sorted(a.skills.items())) for a in self.agents],
                [vars(e) for e in self.entries],
            ]
        )


class CustomerCall(ABC):
    """A customer's call to an entry point."""

    number: str

    @abstractmethod
    def over(self) -> bool:
        """The customer's call has ended (either side hung up)."""

    @abstractmethod
    def check(self) -> None:
        """Fail if the customer's side did not go as scripted (e.g. sipp's scenario)."""


class PbxDriver(ABC):
    """A call centre on one PBX: the scenarios' vocabulary. `start()` first."""

    kind: str
    pbx: str
    router: RouterClient

    # --- the PBX side (each driver) ---------------------------------------------------

    @abstractmethod
    def start(self, world: World, strategy: str) -> None:
        """Install `world` on the PBX (as needed), load `strategy` into the router, start
        the allocation worker and the bridge process (ready: connected, reconciled)."""

    @abstractmethod
    def stop(self) -> None:
        """Bridge, worker, phones and calls gone; the PBX left clean for the next test."""

    @abstractmethod
    def agents_ready(self, phones: dict[str, Phone], desktop: bool = True) -> None:
        """Each agent's phone is up with its `Phone` behaviour and the router sees it
        available (from the bridge); with `desktop`, their desktops are online and
        available too (else `desktop_online` later)."""

    def agent_ready(self, agent: str, phone: Phone) -> None:
        self.agents_ready({agent: phone})

    @abstractmethod
    def phone_idle(self, agent: str) -> bool:
        """The PBX has no channel to the agent's phone (not ringing, not talking)."""

    @abstractmethod
    def rings(self, agent: str) -> int:
        """How many times the PBX rang the agent's phone so far."""

    @abstractmethod
    def call(self, extension: str, number: str, hold: float | None = None) -> CustomerCall:
        """Customer `number` calls `extension`; hangs up `hold` s after the entry point
        answered (at once), or with None stays until the far end hangs up."""

    @abstractmethod
    def customer_phone(self, phone: Phone) -> None:
        """The customers' phone behind the outbound trunk (click-to-call, callback)."""

    @abstractmethod
    def customers_rung(self) -> list[str]:
        """The numbers the PBX dialled through the outbound trunk, in order."""

    @abstractmethod
    def kill_bridge(self) -> None:
        """SIGKILL the bridge process: no clean-up at all, like a crash."""

    @abstractmethod
    def restart_bridge(self) -> None:
        """Start the bridge again and wait until it is ready (reconciled)."""

    @abstractmethod
    def bridge_log(self) -> str: ...

    # --- the router side (the same for both) --------------------------------------------

    def wait(self, check: Callable[[], T | None], what: str, timeout: float = 15) -> T:
        """Poll `check` until it returns something truthy; fail with the router's decisions
        and the bridge's log if it never does."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            last = check()
            if last:
                return last
            time.sleep(0.05)
        raise AssertionError(f"[{self.kind}] {what}: not within {timeout} s (last: {last!r})"
                             f"\n{self.explain()}")  # fmt: skip

    def desktop_online(self, *agents: str) -> None:
        """What the agent desktop does: a live desktop lease and status available."""
        for agent in agents:
            self.router.heartbeat(agent, source="desktop", ttl=600)
            self.router.set_status(agent, "available")

    def phone_available(self, agent: str) -> bool:
        """The router sees the agent's phone available, with a live lease (the bridge's)."""
        state = self.router.agent(agent)
        return (
            state is not None
            and state.devices.get("sip") == "available"
            and state.leases.get("sip", 0) > time.time() * 1000
        )

    def agent(self, agent: str) -> AgentState:
        state = self.router.agent(agent)
        assert state is not None, f"no agent {agent} in the router"
        return state

    def voice_load(self, agent: str) -> int:
        return self.agent(agent).load.get("voice", 0)

    def wait_free(self, agent: str) -> None:
        self.wait(lambda: self.voice_load(agent) == 0, f"{agent}'s voice slot to be free")

    def requests_of(self, number: str) -> list[RoutingRequest]:
        """The routing requests filed for calls from `number` (the entry points' user id),
        oldest first."""
        found = []
        for event in self.router.read_events("0-0", None, 100_000):
            if event.type == "request.created" and event.get("user") == number:
                request = self.router.request(event.get("request"))
                if request is not None and request.call_id:
                    found.append(request)
        return found

    def request_for(self, number: str) -> RoutingRequest:
        """The latest request of a call from `number` (waits until it is filed)."""
        found = self.wait(lambda: self.requests_of(number), f"a routing request for {number}")
        return found[-1]

    def wait_request(
        self, request: RoutingRequest, state: RequestState, timeout: float = 15
    ) -> RoutingRequest:
        def check() -> RoutingRequest | None:
            now = self.router.request(request.id)
            return now if now is not None and now.state is state else None

        return self.wait(check, f"request {request.id} {state.value}", timeout)

    def transcript(self, session: str) -> list[dict[str, Any]]:
        return list(self.router.transcript(session))

    def calls_in(self, session: str) -> list[dict[str, Any]]:
        """The session's call entries (`call.*`), in transcript order."""
        return [e for e in self.transcript(session) if e["type"].startswith("call.")]

    def wait_entries(
        self, session: str, done: Callable[[list[dict[str, Any]]], bool], what: str
    ) -> list[dict[str, Any]]:
        """The session's call entries once `done(entries)` holds."""
        return self.wait(lambda: (e := self.calls_in(session)) and done(e) and e, what)

    def explain(self) -> str:
        """Context for a failed assertion: the router's decisions and the bridge's log."""
        lines = []
        try:
            prefix = self.router.keys.request("")
            for key in sorted(self.router.redis.scan_iter(prefix + "*", count=1000)):
                request_id = key[len(prefix) :]
                for trace in self.router.explain(request_id):
                    lines.append(f"{request_id}: {json.dumps(trace)[:600]}")
        except Exception as e:  # the router may be what broke
            lines.append(f"(router not readable: {e})")
        tail = "\n".join(self.bridge_log().splitlines()[-80:])
        return "\n".join(["router decisions:", *lines, f"{self.kind} bridge log:", tail])

    def check_log(self) -> None:
        """The bridge logged no unexpected error (a traceback) during the test."""
        log = self.bridge_log()
        assert "Traceback" not in log, f"the {self.kind} bridge logged an error:\n{log[-6000:]}"


def wait_until(check: Callable[[], object], what: str, timeout: float = 15) -> None:
    """Poll `check` until truthy (for waits that need no router context)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.05)
