"""What a client is told when something it asked for fails, and what stays in the log.

Three audiences:

- ``staff`` (logged-in agents, admins) get the service's own messages: they say what
  went wrong and what to do.
- ``customer`` (the widget's websocket and HTTP calls) get neutral texts: an exception's
  message may name Redis and its address, an agent or a routing request, and none of that
  is theirs to see. Only errors about the customer's own input or token (a frame too
  large, an empty message, an expired token...) reach them as written.
- ``public`` (anyone else: the login form, /healthz) get the service's messages except
  for outages and bugs, which are neutral.

The detail a client does not get goes to the server log.
"""

from __future__ import annotations

import logging

from chat.errors import (
    AuthError,
    BadInput,
    ChatError,
    Forbidden,
    NotFoundError,
    Refused,
    Throttled,
    Unavailable,
)

log = logging.getLogger(__name__)

CODES: dict[type[ChatError], str] = {
    NotFoundError: "not_found",
    AuthError: "auth_error",
    Forbidden: "forbidden",
    Refused: "refused",
    Unavailable: "unavailable",
}

CUSTOMER_SAFE_CODES = frozenset(
    {
        "auth_error",  # messages written in chat.auth / chat.tokens, about the token
        "forbidden",  # ditto (a token not valid for the service)
        "invalid_frame",
        "binary_frame",
        "frame_too_large",
        "empty_message",
        "message_too_long",
        "hello_first",
        "rate_limited",
        "bad_service",
        "bad_user_id",
        "not_json",
        "no_file",
        "file_empty",
        "file_too_large",
        "file_type",
        "voip_unavailable",  # chat.voip_directory: no VoIP line / user id unfit for VoIP
        "bad_state",
    }
)
"""Error codes whose messages speak only of what the customer sent (their input, token)."""
NEUTRAL_FOR_PUBLIC = frozenset({"unavailable", "server_error"})

NEUTRAL = {
    "unavailable": "The chat is briefly unavailable: nothing was stored. "
    "Please try again in a few seconds.",
    "not_found": "Not found: reload the page and try again.",
    "auth_error": "Your chat link is no longer valid: reload the page.",
    "forbidden": "This is not allowed here.",
    "refused": "This cannot be done right now: reload the page and try again.",
    "server_error": "Something went wrong on our side and nothing was stored. Please try again.",
}
DEFAULT_NEUTRAL = "This request was not accepted: reload the page and try again."
STAFF_UNAVAILABLE_SUFFIX = " - nothing was stored; retry shortly"


def code_of(e: Exception) -> str:
    """The stable error code of an exception (``server_error`` for a bug)."""
    if isinstance(e, BadInput | Throttled):
        return e.code
    for cls, code in CODES.items():
        if isinstance(e, cls):
            return code
    return "server_error"


def message_for(e: Exception, audience: str, who: str = "") -> str:
    """The text to show ``audience`` (``staff``, ``customer`` or ``public``). Logs the
    detail the text leaves out (bugs are logged with their traceback by the caller)."""
    code = code_of(e)
    if code == "server_error":
        return NEUTRAL["server_error"]
    if audience == "staff":
        text = str(e)
        return text + STAFF_UNAVAILABLE_SUFFIX if code == "unavailable" else text
    safe = CUSTOMER_SAFE_CODES if audience == "customer" else None
    if (safe is not None and code in safe) or (safe is None and code not in NEUTRAL_FOR_PUBLIC):
        return str(e)
    log.warning("%s: told the %s %r instead of: %s", who or "client", audience, code, e)
    return NEUTRAL.get(code, DEFAULT_NEUTRAL)
