"""How FreeSWITCH 1.11 writes to an event-socket client, byte for byte.

Each function returns the list of separate socket writes FreeSWITCH makes for one message
(mod_event_socket.c): events and api responses are written as their header block and then
their body, which is why a client often reads a message in two pieces.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

Headers = Sequence[tuple[str, str]]

# switch_utils.h SWITCH_URL_UNSAFE: what switch_url_encode turns into %XX, besides control
# characters and non-ASCII bytes.
URL_UNSAFE = frozenset(b'\r\n #%&+:;<=>?@[\\]^`{|}"')
_HEX = b"0123456789ABCDEF"

DISCONNECT_MESSAGE = "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"


def url_encode(value: str) -> str:
    """switch_url_encode (no double encoding): a `%` already starting `%XX` is kept as is."""
    data = value.encode("utf-8")
    out = bytearray()
    for i, byte in enumerate(data):
        keep_percent = (
            byte == ord("%") and i + 2 < len(data) and data[i + 1] in _HEX and data[i + 2] in _HEX
        )
        if not keep_percent and (byte < 0x20 or byte > 0x7E or byte in URL_UNSAFE):
            out += b"%" + _HEX[byte >> 4 : (byte >> 4) + 1] + _HEX[byte & 15 : (byte & 15) + 1]
        else:
            out.append(byte)
    return out.decode("ascii")


def serialize_plain(headers: Headers, body: str | None = None) -> bytes:
    """switch_event_serialize(event, encode=TRUE): the text of a plain event."""
    text = "".join(f"{name}: {url_encode(value) or '_undef_'}\n" for name, value in headers)
    raw = text.encode("ascii")
    if body:
        data = body.encode("utf-8")
        return raw + b"Content-Length: %d\n\n" % len(data) + data
    return raw + b"\n"


def serialize_json(headers: Headers, body: str | None = None) -> bytes:
    """switch_event_serialize_json: one unformatted JSON object; repeated headers repeat keys."""
    pairs = list(headers)
    if body is not None:
        pairs += [("Content-Length", str(len(body.encode("utf-8")))), ("_body", body)]
    items = (
        json.dumps(name, ensure_ascii=False) + ":" + json.dumps(value, ensure_ascii=False)
        for name, value in pairs
    )
    return ("{" + ",".join(items) + "}").encode("utf-8")


def auth_request() -> list[bytes]:
    return [b"Content-Type: auth/request\n\n"]


def command_reply(reply_text: str) -> list[bytes]:
    return [f"Content-Type: command/reply\nReply-Text: {reply_text}\n\n".encode()]


def bgapi_reply(job_uuid: str) -> list[bytes]:
    return [
        f"Content-Type: command/reply\nReply-Text: +OK Job-UUID: {job_uuid}\n"
        f"Job-UUID: {job_uuid}\n\n".encode()
    ]


def api_response(body: str) -> list[bytes]:
    data = body.encode("utf-8")
    return [b"Content-Type: api/response\nContent-Length: %d\n\n" % len(data), data]


def event_message(payload: bytes, event_format: str) -> list[bytes]:
    return [
        b"Content-Length: %d\nContent-Type: text/event-%s\n\n"
        % (len(payload), event_format.encode()),
        payload,
    ]


def disconnect_notice(message: str = DISCONNECT_MESSAGE) -> list[bytes]:
    data = message.encode("utf-8")
    return [b"Content-Type: text/disconnect-notice\nContent-Length: %d\n\n" % len(data), data]
