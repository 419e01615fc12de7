"""A raw AMI listener for tests: keeps every byte Asterisk sends, parses on demand.

It deliberately shares no code with `ami_bridge.connection`, so tests of the sandbox
and recordings of wire traffic (tests/data/ami/) do not depend on the code under test.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

from devstack import configs

Message = dict[str, list[str]]


class AmiTap:
    """Logs in to the sandbox AMI and records the raw stream in a thread."""

    def __init__(self, host: str = configs.AMI_HOST, port: int = configs.AMI_PORT) -> None:
        self.sock = socket.create_connection((host, port), timeout=5)
        self.raw = b""
        self._lock = threading.Lock()
        self._closed = False
        self.send({"Action": "Login", "Username": configs.AMI_USER, "Secret": configs.AMI_SECRET})
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        self.wait_for(lambda m: m.get("Event") == ["FullyBooted"], timeout=10)

    def _read(self) -> None:
        self.sock.settimeout(None)
        while True:
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            with self._lock:
                self.raw += chunk

    def send(self, headers: dict[str, str | list[str]]) -> None:
        lines = []
        for key, value in headers.items():
            for v in value if isinstance(value, list) else [value]:
                lines.append(f"{key}: {v}\r\n")
        self.sock.sendall(("".join(lines) + "\r\n").encode())

    def messages(self) -> list[Message]:
        with self._lock:
            raw = self.raw
        # Only whole messages: the reader may have appended half of one (a Getvar reply cut
        # after its ActionID read as a reply without a Value, CI at 2908982).
        raw = raw[: raw.rfind(b"\r\n\r\n") + 4] if b"\r\n\r\n" in raw else b""
        out = []
        for block in raw.decode("utf-8", errors="replace").split("\r\n\r\n"):
            msg: Message = {}
            for line in block.split("\r\n"):
                key, sep, value = line.partition(": ")
                if sep:
                    msg.setdefault(key, []).append(value)
            if msg:
                out.append(msg)
        return out

    def events(self, name: str) -> list[Message]:
        return [m for m in self.messages() if m.get("Event") == [name]]

    def wait_for(self, predicate: Callable[[Message], bool], timeout: float = 10) -> Message:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for m in self.messages():
                if predicate(m):
                    return m
            time.sleep(0.02)
        names = [m.get("Event", m.get("Response")) for m in self.messages()][-30:]
        raise AssertionError(f"no matching AMI message within {timeout} s; last: {names}")

    def close(self) -> None:
        self.sock.close()
