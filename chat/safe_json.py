"""Untrusted JSON in: parsed without ever raising RecursionError.

Python's ``json`` module recurses once per nesting level, so a 10 KB document of 5,000
nested arrays raises RecursionError - not ValueError - and code that only expects bad
JSON to be a ValueError lets it escape (the websocket loop once wrote an HTTP 500 into
an open websocket that way). Every JSON the service reads from clients goes through
:func:`loads`: pydantic-core's parser (jiter) stops at 200 levels with a ValueError, which
we turn into a message that says what to fix. Flask's ``request.get_json`` uses it too
(:class:`SafeJSONProvider`).
"""

from __future__ import annotations

from typing import Any

import pydantic_core
from flask import request
from flask.json.provider import DefaultJSONProvider

from chat.errors import BadInput

TOO_DEEP = "JSON is nested too deeply (more than 200 levels): send flat JSON objects"


def loads(data: str | bytes | bytearray) -> Any:
    """The parsed document, or ValueError whose message says what is wrong."""
    try:
        return pydantic_core.from_json(data)
    except ValueError as e:
        if "recursion limit" in str(e):
            raise ValueError(TOO_DEEP) from None
        raise


def is_too_deep(message: str) -> bool:
    """True when a parser's error message is about nesting depth."""
    return "recursion limit" in message or message == TOO_DEEP


class SafeJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider with :func:`loads` for reading (writing is unchanged)."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return loads(s)


def request_json() -> Any:
    """The request body as JSON; BadInput (400) saying what to send otherwise."""
    if not request.is_json:
        raise BadInput("send a JSON object with Content-Type: application/json", code="not_json")
    try:
        return loads(request.get_data(cache=True))
    except ValueError as e:
        raise BadInput(f"the body is not a valid JSON object: {e}", code="not_json") from None
