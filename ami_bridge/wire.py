"""Splitting the AMI byte stream into messages (no I/O).

panoramisk 1.4 decodes each TCP chunk on its own with errors='ignore', so a UTF-8
character split across two reads is silently lost (a caller name like "Zoë" arrives as
"Zo"). `AmiStreamParser` decodes incrementally and cuts messages on the blank line, then
lets panoramisk's `Message.from_line` build the message (repeated headers become lists).
"""

from __future__ import annotations

import codecs

from panoramisk.message import Message

EOL = "\r\n"
GREETING_PREFIX = "Asterisk Call Manager/"


class AmiStreamParser:
    """Feed raw bytes in any chunking; get complete AMI messages out, in order."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buffer = ""
        self.version: str | None = None

    def feed(self, data: bytes) -> list[Message]:
        """Add bytes from the socket; return the messages they completed."""
        messages = []
        for block in self.blocks(data):
            message = Message.from_line(block)
            if message is not None:
                messages.append(message)
        return messages

    def blocks(self, data: bytes) -> list[str]:
        """Add bytes from the socket; return the raw text of the messages they completed."""
        self._buffer += self._decoder.decode(data)
        if self.version is None:
            self._take_greeting()
        *blocks, self._buffer = self._buffer.split(EOL + EOL)
        return [b.strip() for b in blocks if b.strip()]

    def _take_greeting(self) -> None:
        # The greeting is one line with no blank line after it (Asterisk 22).
        if EOL not in self._buffer:
            return
        first, _, rest = self._buffer.partition(EOL)
        if first.startswith(GREETING_PREFIX):
            self.version = first[len(GREETING_PREFIX) :].strip()
            self._buffer = rest
        else:
            self.version = ""


def parse_headers(block: str) -> dict[str, str | list[str]]:
    """One message's `Key: value` lines as a dict; a repeated key gets a list of values.

    The fast path for events (panoramisk's Message lower-cases every key on every access);
    keys keep Asterisk's spelling, which is what `events.from_message` reads.
    """
    headers: dict[str, str | list[str]] = {}
    for line in block.split(EOL):
        key, sep, value = line.partition(":")
        if not sep:
            continue
        value = value[1:] if value.startswith(" ") else value
        known = headers.get(key)
        if known is None:
            headers[key] = value
        elif isinstance(known, list):
            known.append(value)
        else:
            headers[key] = [known, value]
    return headers


def header(block: str, name: str) -> str:
    """The first value of header `name` in a raw message ('' if absent)."""
    if block.startswith(name + ":"):
        start = len(name) + 1
    else:
        start = block.find(EOL + name + ":")
        if start < 0:
            return ""
        start += len(EOL) + len(name) + 1
    end = block.find(EOL, start)
    return (block[start:] if end < 0 else block[start:end]).strip()
