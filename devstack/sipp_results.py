"""What a sipp run tells: its SIP messages (from its `-trace_msg` log), its call counts
(from its statistics screen) and how it ended."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal


@dataclass(frozen=True)
class SipMessage:
    """One SIP message sipp sent or received, as its message log shows it."""

    direction: Literal["sent", "received"]
    first_line: str
    call_id: str

    @property
    def method(self) -> str:
        """`INVITE`, `BYE`... for a request; `200`, `486`... for a response."""
        first = self.first_line.split()
        return first[1] if first and first[0].startswith("SIP/") else first[0]


@dataclass(frozen=True)
class SippResult:
    """How a sipp run ended: exit code, call counts and every SIP message."""

    returncode: int
    successful: int
    failed: int
    messages: tuple[SipMessage, ...]
    errors: str
    workdir: Path

    @property
    def ok(self) -> bool:
        """sipp exits 0 only when every call followed the scenario."""
        return self.returncode == 0

    def count(self, method: str, direction: Literal["sent", "received"] | None = None) -> int:
        """How many messages of this method/status code went in that direction."""
        return sum(
            1
            for m in self.messages
            if m.method == method and (direction is None or m.direction == direction)
        )

    def describe(self) -> str:
        """A summary for assertion messages."""
        flow = ", ".join(
            f"{'>' if m.direction == 'sent' else '<'}{m.method}" for m in self.messages
        )
        return (
            f"sipp exit {self.returncode}, {self.successful} ok / {self.failed} failed; "
            f"flow: {flow}; errors: {self.errors.strip()[:800] or 'none'} (logs in {self.workdir})"
        )


_MESSAGE_HEADER = re.compile(r"^\S+ message (sent|received) \[\d+\] bytes:$")


def parse_message_log(text: str) -> list[SipMessage]:
    """Parse sipp's `-trace_msg` log into the messages it sent and received."""
    messages: list[SipMessage] = []
    blocks = re.split(r"^-{20,}.*$", text, flags=re.MULTILINE)
    for block in blocks:
        lines = [line.strip() for line in block.strip().splitlines()]
        if not lines:
            continue
        match = _MESSAGE_HEADER.match(lines[0])
        body = [line for line in lines[1:] if line]
        if match is None or not body:
            continue
        call_id = next(
            (line.split(":", 1)[1].strip() for line in body if line.lower().startswith("call-id:")),
            "",
        )
        direction: Literal["sent", "received"] = "sent" if match[1] == "sent" else "received"
        messages.append(SipMessage(direction, body[0], call_id))
    return messages


def sipp_stat(stdout: str, label: str) -> int:
    # the last statistics screen: "  Successful call  |  0  |  1  " (cumulative last)
    values = re.findall(rf"{label}\s*\|\s*\d+\s*\|\s*(\d+)", stdout)
    return int(values[-1]) if values else 0
