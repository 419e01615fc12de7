"""The ESL layer's exceptions: every library or socket error is converted to one of these.

Callers catch `EslError` for "FreeSWITCH did not do it", `EslUnavailable` for "retry once the
client has reconnected" and `EslCommandFailed` for "FreeSWITCH answered, and the answer is no".
"""

from __future__ import annotations


class EslError(Exception):
    """Base of every error raised by `esl_bridge`'s ESL layer."""


class EslUnavailable(EslError):
    """FreeSWITCH cannot be reached right now (not connected, refused, or the connection dropped).

    The client reconnects on its own with backoff; retry the operation after it has.
    """


class EslConnectionLost(EslUnavailable):
    """The connection dropped while this command or background job was waiting for its answer.

    Whether FreeSWITCH carried it out is unknown: reconcile from `show channels as json`.
    """


class EslAuthFailed(EslError):
    """FreeSWITCH refused the event-socket password (`-ERR invalid`)."""


class EslTimeout(EslError):
    """No answer within the timeout. The connection is reset, because a connection that stopped
    answering (half-open TCP, a stuck FreeSWITCH) also holds every command queued behind it."""


class EslCommandFailed(EslError):
    """FreeSWITCH answered the command with an error (`-ERR ...` / `-USAGE: ...`)."""

    def __init__(self, command: str, reply: str) -> None:
        self.command = command
        self.reply = reply.strip()
        super().__init__(f"FreeSWITCH refused {command!r}: {self.reply}")


class EslProtocolError(EslError):
    """Bytes that do not follow the ESL wire format (framing cannot be trusted any more)."""


class BridgeError(Exception):
    """Base of the ESL bridge's own errors (above the ESL layer)."""


class BridgeConfigError(BridgeError):
    """The bridge cannot start with this configuration; the message says what to fix."""
