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
        self._buffer += self._decoder.decode(data)
        if self.version is None:
            self._take_greeting()
        *blocks, self._buffer = self._buffer.split(EOL + EOL)
        messages = []
        for block in blocks:
            message = Message.from_line(block.strip())
            if message is not None:
                messages.append(message)
        return messages

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
