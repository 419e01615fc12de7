"""Steady routing + chat load for the failover tests and the chaos benchmark.

Threads that act like people, through the real processes:

- `Customer`: a widget websocket that sends a message every `interval` s and, like the
  widget's outbox, resends what was not acknowledged (same cid) - after an error frame,
  after 2 s without an ack, after reconnecting. What was acknowledged is recorded.
- `Agent`: an agent desktop that accepts every offer; sessions it was given after an
  accept are recorded, and when each offer first reached it.
- `Prober`: a new customer every `every` s, each one one message: the contacts whose
  routing time after a fault is measured (`first_offer_after`).
- `Caller`: a caller to the fake FreeSWITCH every `every` s who hangs up `talk` s after
  being connected to an agent (`first_bridge_after`).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import websocket

RESEND_S = 2.0


@dataclass
class Record:
    """What the load saw, shared by all its threads (one lock)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    acked: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    """cid -> (entry id, session id, user)"""
    accepted: dict[str, str] = field(default_factory=dict)
    """session id -> agent, for sessions a desktop got after accepting"""
    offered_at: dict[str, float] = field(default_factory=dict)
    """session id -> when its first offer reached a desktop (monotonic)"""
    probes: list[tuple[float, str]] = field(default_factory=list)
    """(started at, session id) of each probe contact, once its message was acked"""
    calls: list[tuple[float, str]] = field(default_factory=list)
    """(dialled at, caller uuid)"""
    bridged_at: dict[str, float] = field(default_factory=dict)
    errors: int = 0

    def first_offer_after(self, t: float) -> float | None:
        """Seconds from `t` to the first offer of a probe contact started at or after `t`."""
        with self.lock:
            times = [self.offered_at[s] for start, s in self.probes if start >= t]
            times = [x for x in times if x is not None]
        return min(times) - t if times else None

    def first_bridge_after(self, t: float) -> float | None:
        with self.lock:
            times = [self.bridged_at[c] for start, c in self.calls if start >= t and c in
                     self.bridged_at]  # fmt: skip
        return min(times) - t if times else None


class _Ws:
    """A websocket to the chat service that reconnects (and says hello) when it drops."""

    def __init__(self, url: str, hello: dict[str, Any], **kw: Any) -> None:
        self.url, self.hello, self.kw = url, hello, kw
        self.ws: websocket.WebSocket | None = None

    def connected(self) -> bool:
        if self.ws is not None:
            return True
        ws = websocket.WebSocket()
        try:
            ws.settimeout(5)
            ws.connect(self.url, **self.kw)
            ws.send(json.dumps(self.hello))
        except (OSError, websocket.WebSocketException):
            ws.shutdown()
            return False
        self.ws = ws
        return True

    def send(self, frame: dict[str, Any]) -> None:
        if self.ws is None:
            return
        try:
            self.ws.send(json.dumps(frame))
        except (OSError, websocket.WebSocketException):
            self.drop()

    def recv(self, timeout: float) -> dict[str, Any] | None:
        if self.ws is None:
            return None
        self.ws.settimeout(timeout)
        try:
            frame: dict[str, Any] = json.loads(self.ws.recv())
            return frame
        except websocket.WebSocketTimeoutException:
            return None
        except (OSError, websocket.WebSocketException, ValueError):
            self.drop()
            return None

    def drop(self) -> None:
        if self.ws is not None:
            with contextlib.suppress(Exception):
                self.ws.close(timeout=1)
            self.ws.shutdown()
        self.ws = None


class _Loop(threading.Thread):
    def __init__(self, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.stop = stop


class Customer(_Loop):
    def __init__(
        self, ws_url: str, token: str, user: str, record: Record, stop: threading.Event,
        interval: float = 0.25, service: str = "webchat", limit: int | None = None,
    ) -> None:  # fmt: skip
        super().__init__(stop)
        self.ws = _Ws(
            f"{ws_url}/ws/customer?service={service}",
            {"type": "hello"},
            subprotocols=["implus", f"token.{token}"],
        )
        self.user, self.record, self.interval, self.limit = user, record, interval, limit
        self.unacked: dict[str, float] = {}
        self.sent = 0

    def run(self) -> None:
        next_new = time.monotonic()
        while not self.stop.is_set():
            if not self.ws.connected():
                time.sleep(0.3)
                continue
            now = time.monotonic()
            if now >= next_new and (self.limit is None or self.sent < self.limit):
                cid = f"{self.user}-{self.sent}"
                self.sent += 1
                self.unacked[cid] = 0.0
                next_new = now + self.interval
            for cid, due in list(self.unacked.items()):
                if due <= now:
                    self.unacked[cid] = now + RESEND_S
                    self.ws.send({"type": "message", "cid": cid, "text": f"text of {cid}"})
            frame = self.ws.recv(0.05)
            if frame is None:
                if self.ws.ws is None:  # dropped: resend everything after the next hello
                    self.unacked = dict.fromkeys(self.unacked, 0.0)
                continue
            if frame["type"] == "ack" and frame["cid"] in self.unacked:
                del self.unacked[frame["cid"]]
                with self.record.lock:
                    self.record.acked[frame["cid"]] = (frame["id"], frame["session_id"], self.user)
                self.on_ack(frame)
            elif frame["type"] == "error":
                with self.record.lock:
                    self.record.errors += 1
                if frame.get("ref") in self.unacked:
                    self.unacked[frame["ref"]] = time.monotonic() + 0.3
        self.ws.drop()

    def on_ack(self, frame: dict[str, Any]) -> None:
        """Subclasses note more about an acknowledged message."""


class Prober(_Loop):
    """A new one-message customer every `every` s (tokens made up front)."""

    def __init__(
        self, ws_url: str, tokens: list[tuple[str, str]], record: Record, stop: threading.Event,
        every: float = 0.5,
    ) -> None:  # fmt: skip
        super().__init__(stop)
        self.ws_url, self.tokens, self.record, self.every = ws_url, tokens, record, every
        self.started: list[Customer] = []

    def run(self) -> None:
        for user, token in self.tokens:
            if self.stop.wait(self.every):
                break
            probe = _Probe(self.ws_url, token, user, self.record, self.stop, time.monotonic())
            probe.start()
            self.started.append(probe)


class _Probe(Customer):
    def __init__(self, ws_url: str, token: str, user: str, record: Record, stop: threading.Event,
                 started: float) -> None:  # fmt: skip
        super().__init__(ws_url, token, user, record, stop, limit=1)
        self.started_at = started

    def on_ack(self, frame: dict[str, Any]) -> None:
        with self.record.lock:
            self.record.probes.append((self.started_at, frame["session_id"]))


class Agent(_Loop):
    """An agent desktop that goes available and accepts every offer."""

    def __init__(self, ws_url: str, bearer: str, agent: str, record: Record,
                 stop: threading.Event) -> None:  # fmt: skip
        super().__init__(stop)
        self.ws = _Ws(
            f"{ws_url}/ws/agent", {"type": "hello"}, header=[f"Authorization: Bearer {bearer}"]
        )
        self.agent, self.record = agent, record
        self.accepting: set[str] = set()
        self.welcomed = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            if not self.ws.connected():
                time.sleep(0.3)
                continue
            frame = self.ws.recv(0.1)
            if frame is None:
                continue
            kind = frame["type"]
            if kind == "welcome":
                self.ws.send({"type": "status", "status": "available"})
                self.welcomed.set()
            elif kind == "offer":
                with self.record.lock:
                    self.record.offered_at.setdefault(frame["session_id"], time.monotonic())
                self.accepting.add(frame["session_id"])
                self.ws.send({"type": "accept", "offer_id": frame["offer_id"]})
            elif kind == "session" and frame["session_id"] in self.accepting:
                with self.record.lock:
                    self.record.accepted[frame["session_id"]] = self.agent
        self.ws.drop()


class Caller(_Loop):
    """Callers to the fake FreeSWITCH's entry point; each hangs up after `talk` s talking."""

    def __init__(self, calls: Any, record: Record, stop: threading.Event, every: float = 1.0,
                 talk: float = 1.5, number: Callable[[int], str] = lambda i: f"+4930{i:07d}"
                 ) -> None:  # fmt: skip
        super().__init__(stop)
        self.calls, self.record, self.every, self.talk, self.number = (
            calls, record, every, talk, number
        )  # fmt: skip
        self.live: dict[str, float] = {}
        self.n = 0

    def run(self) -> None:
        next_call = time.monotonic()
        while not self.stop.is_set():
            now = time.monotonic()
            switch_down = getattr(self.calls.server, "_server", True) is None
            if now >= next_call and not switch_down:  # a stopped switch takes no calls
                next_call = now + self.every
                self.n += 1
                try:
                    caller = self.calls.dial("800", self.number(self.n))
                except Exception:  # the switch is being restarted: the caller gets nowhere
                    caller = None
                if caller:
                    with self.record.lock:
                        self.record.calls.append((now, caller))
                    self.live[caller] = 0.0
            for caller, bridged in list(self.live.items()):
                leg = self.calls.leg(caller)
                if leg is None:
                    del self.live[caller]
                elif not bridged and leg.peer is not None:
                    self.live[caller] = now
                    with self.record.lock:
                        self.record.bridged_at.setdefault(caller, now)
                elif bridged and now - bridged >= self.talk:
                    with contextlib.suppress(Exception):
                        self.calls.hangup(caller)
                    del self.live[caller]
            time.sleep(0.02)

    def hang_up_all(self) -> None:
        for caller in list(self.live):
            with contextlib.suppress(Exception):
                self.calls.hangup(caller)
        self.live.clear()
