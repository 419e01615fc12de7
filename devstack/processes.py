"""The processes of the local stack (`implus up`): each child with its own log, started in
its own session so Ctrl-C reaches `implus up` only, which stops them in order."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class StackError(Exception):
    """Something the demo needs is missing or broke; the message says what to do."""


def _free(host: str, port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex((host, port)) != 0


def _wait(what: str, check: Callable[[], object], timeout: float, proc: Child | None = None) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None:
            proc.check()
        with contextlib.suppress(Exception):
            value = check()
            if value:
                return value
        time.sleep(0.1)
    tail = f"\n{proc.tail()}" if proc is not None else ""
    raise StackError(f"{what}: not within {timeout:.0f} s{tail}")


@dataclass
class Child:
    """One process of the stack, its output in `log`."""

    name: str
    argv: list[str]
    log: Path
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    offset: int = 0
    """Where this run's output starts in `log` (logs are kept across runs: appended)."""

    def start(self) -> Child:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.offset = self.log.stat().st_size if self.log.exists() else 0
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                self.argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **self.env},
                start_new_session=True,  # Ctrl-C reaches us; we stop the children in order
            )
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def check(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise StackError(
                f"{self.name} exited with status {self.proc.returncode}; "
                f"the end of its log ({self.log}):\n{self.tail()}"
            )

    def output(self) -> str:
        """What this run of the process wrote to its log (not an earlier run's lines)."""
        try:
            with open(self.log, "rb") as f:
                f.seek(self.offset)
                return f.read().decode("utf-8", errors="replace")
        except OSError:
            return ""

    def tail(self, lines: int = 25) -> str:
        text = self.output()
        if not text:
            return "(no log)"
        return "\n".join("    " + line for line in text.splitlines()[-lines:])

    def stop(self, timeout: float = 10) -> None:
        if not self.alive():
            return
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)


def implus_argv(*args: str) -> list[str]:
    """The `implus` command of this Python, whatever PATH holds."""
    return [sys.executable, "-c", "from router.cli import main; main()", *args]


@contextlib.contextmanager
def _signals_stop() -> Iterator[list[int]]:
    got: list[int] = []

    def handler(signum: int, _: object) -> None:
        got.append(signum)

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield got
    finally:
        for s, h in old.items():
            signal.signal(s, h)
