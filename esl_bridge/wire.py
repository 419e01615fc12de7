"""The ESL wire format, without I/O: framing of the byte stream, event bodies, outgoing commands.

FreeSWITCH's event socket sends messages as `Name: value` lines (LF), a blank line, then
`Content-Length` bytes of body. Plain events (`text/event-plain`) carry a second, inner
message in that body: URL-encoded `Name: value` lines and, for events with a body of their own
(BACKGROUND_JOB), an inner `Content-Length` and that body. See docs/freeswitch-esl.md.

This module replaces greenswitch 0.0.19's reader (`ESLEvent.parse_data` and
`ESLProtocol.receive_events`), whose parsing cannot be repaired from outside: it URL-decodes
before splitting lines, folds an event's body into its `Content-Length` value, cannot read
`text/event-json`, and dies on a second `Content-Length`. Being sans-I/O it is fed bytes in
any chunking, which is how the tests replay the recorded transcripts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from urllib.parse import unquote

import orjson

from esl_bridge.errors import EslError, EslProtocolError

MAX_HEADER_BYTES = 64 * 1024
"""A header block longer than this is not ESL (FreeSWITCH's own are a few hundred bytes)."""

MAX_BODY_BYTES = 64 * 1024 * 1024
"""Largest body accepted; `show channels as json` on a busy switch is a few megabytes."""

_BLANK_LINE = re.compile(rb"\r?\n\r?\n")
_EVENT_HEAD = re.compile(
    rb"Content-Length: ([0-9]{1,7})\nContent-Type: (text/event-json|text/event-plain)\n\n"
)
"""The outer header block of every event FreeSWITCH sends (recordings 03-07): read in one
match instead of line by line (~10 of a routed call's ~14 messages); anything else, or a
body of 10 MB or more, goes the general way."""


class EslInvalidCommand(EslError, ValueError):
    """A command that cannot be sent safely (a line break would smuggle in a second command)."""


def _first(headers: tuple[tuple[str, str], ...], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers:
        if key == name or key.lower() == wanted:
            return value
    return None


def _content_length(headers: tuple[tuple[str, str], ...], where: str) -> int | None:
    """The Content-Length of a header block; a repeated header must repeat the same value.

    Two different values make the framing ambiguous, and guessing desynchronises the stream
    (greenswitch takes the last one and then crashes its reader on the next message).
    """
    values = {v.strip() for k, v in headers if k.lower() == "content-length"}
    if not values:
        return None
    if len(values) > 1:
        raise EslProtocolError(
            f"{where} has Content-Length {' and '.join(sorted(values))}: framing is ambiguous"
        )
    raw = values.pop()
    if not raw.isdigit():
        raise EslProtocolError(f"{where} has a non-numeric Content-Length {raw!r}")
    length = int(raw)
    if length > MAX_BODY_BYTES:
        raise EslProtocolError(f"{where} announces {length} bytes, over {MAX_BODY_BYTES}")
    return length


@dataclass(frozen=True)
class Frame:
    """One message of the event socket: its (outer) headers in wire order, and its body bytes."""

    headers: tuple[tuple[str, str], ...]
    body: bytes = b""

    def get(self, name: str) -> str | None:
        """The first value of header `name` (case-insensitive, like FreeSWITCH), or None."""
        return _first(self.headers, name)

    @property
    def content_type(self) -> str:
        return self.get("Content-Type") or ""

    def text(self) -> str:
        """The body as text (FreeSWITCH sends UTF-8; a broken sequence becomes U+FFFD)."""
        return self.body.decode("utf-8", "replace")


def _lines(block: bytes) -> Iterator[bytes]:
    """The non-empty lines of a header block (LF endings; a CR before it is tolerated)."""
    for raw_line in block.split(b"\n"):
        line = raw_line.rstrip(b"\r")
        if line:
            yield line


def _parse_header_block(block: bytes, where: str) -> tuple[tuple[str, str], ...]:
    headers = []
    for line in _lines(block):
        name, colon, value = line.partition(b":")
        if not colon or not name.strip():
            raise EslProtocolError(f"{where}: header line without 'Name:' {line[:80]!r}")
        headers.append(
            (name.strip().decode("utf-8", "replace"), value.lstrip(b" ").decode("utf-8", "replace"))
        )
    return tuple(headers)


class FrameReader:
    """Splits the byte stream from FreeSWITCH into `Frame`s; feed it reads of any size.
    The bytes are read in place by offset: a body is one slice (none for a read that is
    exactly the body: FreeSWITCH writes an event's head and body apart); only an
    unfinished message is kept for the next read."""

    def __init__(self) -> None:
        self._rest = b""
        self._headers: tuple[tuple[str, str], ...] | None = None
        self._body_length = 0

    def feed(self, data: bytes) -> Iterator[Frame]:
        """Add received bytes; yield the messages they complete (maybe none). A generator:
        the messages before a malformed one are handled before its EslProtocolError is
        raised (the connection must then be closed)."""
        if self._rest:
            data, self._rest = self._rest + data, b""
        at, end = 0, len(data)
        try:
            while True:
                if self._headers is None:
                    # FreeSWITCH itself skips stray line breaks between messages; so do we.
                    while at < end and data[at] in (10, 13):
                        at += 1
                    head = _EVENT_HEAD.match(data, at)
                    if head is not None:
                        length, kind = head.groups()
                        self._headers = (("Content-Length", length.decode()),
                                         ("Content-Type", kind.decode()))  # fmt: skip
                        self._body_length, at = int(length), head.end()
                        continue
                    match = _BLANK_LINE.search(data, at)
                    if match is None:
                        if end - at > MAX_HEADER_BYTES:
                            raise EslProtocolError(
                                f"no end of headers within {MAX_HEADER_BYTES} bytes: not ESL"
                            )
                        return
                    self._headers = _parse_header_block(data[at : match.start()], "message")
                    self._body_length = _content_length(self._headers, "message") or 0
                    at = match.end()
                if end - at < self._body_length:
                    return
                body, at = data[at : at + self._body_length], at + self._body_length
                headers, self._headers = self._headers, None
                yield Frame(headers, body)
        finally:  # also when the consumer stops early: what is not handed out stays
            self._rest = data[at:] if at < end else b""

    @property
    def pending_bytes(self) -> int:
        """Bytes received but not yet part of a complete message."""
        return len(self._rest)


class RawEvent:
    """A decoded event: its headers (values URL-decoded for plain events) and its body.

    `get(name)` finds a header whatever its case (as FreeSWITCH does) and returns its first
    value in wire order; for a JSON event without repeated names, the exact spelling asked
    for wins over another spelling of the same name. A channel event has ~150-220 headers of
    which the bridge reads ~20, so nothing is done per header in Python: the lookup tables
    are orjson's dict or built by dict/zip/map in C, and `headers` (every header in wire
    order, repeats and JSON array items spread out) is only made when someone asks for it.
    """

    __slots__ = (
        "_body_key",
        "_exact",
        "_folded",
        "_headers",
        "_lowered",
        "_pairs",
        "_source",
        "body",
    )

    def __init__(
        self,
        headers: Sequence[tuple[str, object]],
        body: str | None = None,
        *,
        body_key: str | None = None,
    ) -> None:
        """`headers`: (name, value) pairs in wire order, repeats included; a value is a str,
        or a list of them for a JSON array header (FreeSWITCH's ARRAY:: values).
        `body_key`: the pair that is the body, not a header (`_body` of a JSON event)."""
        self._pairs: Sequence[tuple[str, object]] | None = headers
        backwards = headers[::-1]  # later pairs overwrite earlier: the first value wins
        self._folded: dict[str, object] | None = dict(
            zip(
                map(str.lower, map(itemgetter(0), backwards)),
                map(itemgetter(1), backwards),
                strict=True,
            )
        )
        self._exact: dict[str, object] | None = None
        self._source: bytes | None = None
        self._lowered: bytes | None = None
        self._body_key = body_key
        if body_key is not None and body_key in self._folded:
            body = str(self._folded.pop(body_key))
        self.body = body
        self._headers: tuple[tuple[str, str], ...] | None = None

    @classmethod
    def of_unique(cls, headers: dict[str, object], source: bytes, body_key: str) -> RawEvent:
        """An event whose header names are all different (`headers` in wire order, as
        decoded from `source`, the JSON text): no lookup table to build at all."""
        self = cls.__new__(cls)
        self._exact = headers
        self._pairs = None
        self._folded = None
        self._source = source
        self._lowered = None
        self._body_key = body_key
        body = headers.pop(body_key, None)
        self.body = None if body is None else str(body)
        self._headers = None
        return self

    def __repr__(self) -> str:
        return f"RawEvent({len(self.headers)} headers, body={self.body!r:.40})"

    @property
    def headers(self) -> tuple[tuple[str, str], ...]:
        """Every header in wire order (repeats kept, a JSON array as repeated headers)."""
        if self._headers is None:
            pairs = self._pairs
            if pairs is None:  # rarely asked for: decode the pairs, repeats included, now
                pairs = json.loads(self._source or b"{}", object_pairs_hook=list)
            out: list[tuple[str, str]] = []
            for name, value in pairs:
                if name == self._body_key:
                    continue
                if isinstance(value, list):
                    out.extend((name, str(item)) for item in value)
                else:
                    out.append((name, value if isinstance(value, str) else str(value)))
            self._headers = tuple(out)
        return self._headers

    def get(self, name: str) -> str | None:
        """The first value of header `name` (case-insensitive), or None."""
        folded = self._folded
        if folded is not None:
            return _text(folded.get(name.lower()))
        exact = self._exact
        assert exact is not None
        value = exact.get(name)
        if value.__class__ is str:  # the usual case (~15 lookups per event): no call
            return value
        if value is not None:
            return _text(value)
        # Absent as spelled: under another spelling? One search of the lower-cased text
        # answers no for the usual absent header; only a yes builds the folded table.
        source = self._source
        assert source is not None
        if self._lowered is None:
            self._lowered = source.lower()
        wanted = name.lower()
        if b'"%s":' % wanted.encode("utf-8", "replace") not in self._lowered:
            return None
        items = list(exact.items())[::-1]
        self._folded = dict(
            zip(map(str.lower, map(itemgetter(0), items)), map(itemgetter(1), items), strict=True)
        )
        return _text(self._folded.get(wanted))

    def get_exact(self, name: str) -> str | None:
        """The first value of header `name` spelled exactly so (channel variables)."""
        exact = self._exact
        if exact is None:
            exact = self._exact = dict((self._pairs or ())[::-1])
        return _text(exact.get(name)) if name != self._body_key else None


def _text(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list):  # a JSON array header: its first item, as plain events give it
        return str(value[0]) if value else None
    return str(value)


def _url_decode(value: bytes) -> str:
    # FreeSWITCH's switch_url_decode turns %XX into a byte and leaves '+' alone, as unquote does.
    return unquote(value.decode("utf-8", "replace"), encoding="utf-8", errors="replace")


def parse_plain_event(payload: bytes) -> RawEvent:
    """Decode the body of a `text/event-plain` message.

    Lines are split first and each value URL-decoded afterwards: decoding first (as greenswitch
    0.0.19 does) lets an encoded newline in a caller-controlled value, such as a SIP display
    name, forge headers like Unique-ID. An inner Content-Length introduces the event's own
    body (BACKGROUND_JOB's result), which is returned as `body`, not as a header value.
    """
    match = _BLANK_LINE.search(payload)
    head, rest = (
        (payload, b"") if match is None else (payload[: match.start()], payload[match.end() :])
    )
    headers = []
    for line in _lines(head):
        name, sep, value = line.partition(b": ")
        if not sep:
            raise EslProtocolError(f"event header line without ': ' {line[:80]!r}")
        headers.append((name.decode("utf-8", "replace"), _url_decode(value)))
    event_headers = tuple(headers)
    length = _content_length(event_headers, "event")
    if length is None:
        if rest.strip():
            raise EslProtocolError(f"event has {len(rest)} bytes after its headers but no length")
        return RawEvent(event_headers)
    if len(rest) != length:
        raise EslProtocolError(
            f"event body is {len(rest)} bytes but its Content-Length says {length}"
        )
    return RawEvent(event_headers, rest.decode("utf-8", "replace"))


def parse_json_event(payload: bytes) -> RawEvent:
    """Decode the body of a `text/event-json` message (one JSON object; `_body` is the body).

    Array headers (FreeSWITCH's ARRAY:: values) count as repeated headers, as in plain events.
    orjson decodes the object (~3x faster than the json module); only an event that repeats a
    header name (cJSON repeats Hangup-Cause in CHANNEL_HANGUP_COMPLETE) is decoded again
    pair by pair, so that its first value wins as in plain events.
    """
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError as e:
        raise EslProtocolError(f"text/event-json body is not JSON: {e}") from None
    if not isinstance(data, dict):
        raise EslProtocolError("text/event-json body is not a JSON object")
    if not _unique_as_dumped(payload, data) and _names_repeat(payload, len(data)):
        pairs = json.loads(payload, object_pairs_hook=list)
        return RawEvent(pairs, body_key="_body")
    return RawEvent.of_unique(data, payload, "_body")


_REPEATED_AS_A_RULE = (b'"Hangup-Cause":"',)
"""Names FreeSWITCH's cJSON repeats in every event of a kind (CHANNEL_HANGUP_COMPLETE)."""


def _unique_as_dumped(payload: bytes, data: dict[str, object]) -> bool:
    """True if `payload` certainly names no header twice (but for copies, same value, of a
    name FreeSWITCH repeats as a rule): orjson writes `data` back byte for byte as
    `payload` (without those copies). False means "not known": `_names_repeat` decides.

    Exact, and ~3x cheaper than counting the names (orjson writes 5-9 KB in ~4 us where
    `bytes.count` of a 3-byte pattern reads ~0.7 GB/s): orjson never writes a name twice,
    so a payload equal to its output has none twice. cJSON's unformatted JSON (FreeSWITCH's
    `text/event-json`) escapes as orjson does (`"`, `\\`, control characters; UTF-8 and
    `/` as they are), so real events take this path; any other spelling only costs time."""
    try:
        dumped = orjson.dumps(data)
    except orjson.JSONEncodeError:  # nested deeper than orjson writes (254): not FreeSWITCH's
        return False
    if dumped == payload:
        return True
    for marker in _REPEATED_AS_A_RULE:
        first = payload.find(marker)
        if first < 0:
            continue
        start = first + len(marker)
        end = payload.find(b'"', start)
        value = payload[start:end]
        if end < 0 or b"\\" in value:
            continue
        # Every later copy follows a comma; its closing quote is unescaped, so the pattern
        # is a whole pair. The dict keeps the name where it first appeared.
        copy = b"," + marker + value + b'"'
        stripped = payload[: end + 1] + payload[end + 1 :].replace(copy, b"")
        if len(stripped) < len(payload) and dumped == stripped:
            return True
    return False


def _names_repeat(payload: bytes, names: int) -> bool:
    """Does the JSON object `payload`, decoded to `names` distinct names, repeat one with
    another value (then only the first value is right, and orjson kept the last)?

    switch_event_serialize_json writes every value as a string or an array of strings, so
    each name is followed by `":"` or `":[`. Inside a string value every quote is escaped:
    `":"` cannot appear there, and `":[` only as `\\":[`. So the count is exact for what
    FreeSWITCH sends. A name FreeSWITCH repeats as a rule does not count when all its
    values are the same. Values FreeSWITCH never writes (numbers, nested objects) make the
    count miss or add names: a repeat could then go unseen (the last value would win)."""
    found = payload.count(b'":"') + payload.count(b'":[')
    if found != names and b'\\":[' in payload:
        found -= payload.count(b'\\":[')
    extra = found - names
    if extra > 0:
        for marker in _REPEATED_AS_A_RULE:
            copies = payload.count(marker)
            if copies > 1 and _all_same(payload, marker):
                extra -= copies - 1
    return extra != 0


def _all_same(payload: bytes, marker: bytes) -> bool:
    """Are all the string values after `marker` (`"Name":"`) the same, without escapes?"""
    values = set()
    at = payload.find(marker)
    while at >= 0:
        start = at + len(marker)
        end = payload.find(b'"', start)
        value = payload[start:end]
        if end < 0 or b"\\" in value:
            return False
        values.add(value)
        at = payload.find(marker, end)
    return len(values) == 1


def encode_command(line: str, headers: Mapping[str, str] | None = None) -> bytes:
    """The bytes of one command: its line, optional `Name: value` lines, and the blank line.

    FreeSWITCH ends a command at the first blank line and reads the rest as the next command,
    so a line break in any part (for instance from a caller's number in an originate string)
    is refused here rather than sent.
    """
    parts = [line, *(headers or {}).keys(), *(headers or {}).values()]
    for part in parts:
        if "\n" in part or "\r" in part:
            raise EslInvalidCommand(f"line break in ESL command part {part!r}: refused")
    for name in headers or {}:
        if not name or ":" in name:
            raise EslInvalidCommand(f"invalid ESL header name {name!r}")
    if not line.strip():
        raise EslInvalidCommand("empty ESL command")
    text = line + "\n" + "".join(f"{k}: {v}\n" for k, v in (headers or {}).items()) + "\n"
    return text.encode("utf-8")
