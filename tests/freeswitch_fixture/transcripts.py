"""The transcripts recorded from a real FreeSWITCH 1.11.1 (tests/data/freeswitch), as data.

`NAME.txt` holds the exchange: `>>> SEND N bytes` / `<<< RECV N bytes` headers each followed
by exactly N bytes (one socket read for RECV), and `<<< CLOSED 0 bytes` when FreeSWITCH
closed. The recorder added a line break after a chunk that did not end in one.
`NAME.recv.raw` is every received byte; `load` checks both files agree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "freeswitch"

NAMES = (
    "01-auth-api-exit",
    "02-auth-bad-password",
    "03-inbound-call-park-hangup",
    "04-agent-first-bridge",
    "05-originate-no-answer",
    "06-inbound-call-json",
)

_STEP = re.compile(rb"(<<< RECV|>>> SEND|<<< CLOSED) (\d+) bytes\n")


@dataclass(frozen=True)
class Step:
    """One line of a transcript: `recv` (one socket read), `send` (client bytes) or `closed`."""

    kind: str
    data: bytes


@dataclass(frozen=True)
class Transcript:
    name: str
    steps: tuple[Step, ...]
    received: bytes

    @property
    def reads(self) -> list[bytes]:
        """The socket reads, in order, exactly as FreeSWITCH's data arrived."""
        return [s.data for s in self.steps if s.kind == "recv"]

    @property
    def sent(self) -> list[bytes]:
        """What the recording client sent, in order."""
        return [s.data for s in self.steps if s.kind == "send"]

    @property
    def closed_by_server(self) -> bool:
        return any(s.kind == "closed" for s in self.steps)


@cache
def load(name: str) -> Transcript:
    """Parse transcript `name` (see NAMES) and check it against its `.recv.raw`."""
    text = (DATA_DIR / f"{name}.txt").read_bytes()
    steps = []
    pos = 0
    while pos < len(text):
        match = _STEP.match(text, pos)
        if match is None:
            raise ValueError(f"{name}.txt: no step header at byte {pos}: {text[pos : pos + 40]!r}")
        size = int(match.group(2))
        data = text[match.end() : match.end() + size]
        pos = match.end() + size
        kind = {b"<<< RECV": "recv", b">>> SEND": "send", b"<<< CLOSED": "closed"}[match.group(1)]
        steps.append(Step(kind, data))
        if pos < len(text) and not text.startswith((b"<<<", b">>>"), pos):
            if text[pos : pos + 1] != b"\n":
                raise ValueError(f"{name}.txt: unexpected bytes after a step at {pos}")
            pos += 1
    received = b"".join(s.data for s in steps if s.kind == "recv")
    raw = (DATA_DIR / f"{name}.recv.raw").read_bytes()
    if received != raw:
        raise ValueError(f"{name}: .txt reads do not add up to .recv.raw")
    return Transcript(name, tuple(steps), raw)
