"""The chat service's exceptions. Library and router errors are converted at the boundary."""

from __future__ import annotations


class ChatError(Exception):
    """Base of every error the chat package raises on purpose."""


class ConfigError(ChatError):
    """A missing or bad setting; the message names the key and where it came from."""


class AuthError(ChatError):
    """Missing, bad or expired credentials (HTTP 401 / websocket refusal)."""


class Forbidden(ChatError):
    """Authenticated, but not allowed to touch this thing (HTTP 403)."""


class BadInput(ChatError):
    """A payload that fails validation; ``code`` is stable, the message says what to do."""

    def __init__(
        self, message: str, code: str = "bad_input", problems: list[str] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.problems = problems
        """Each problem on its own (e.g. every error of a strategy), when there are several."""


class UploadRefused(BadInput):
    """A file that is too large, empty or of a type we do not accept."""


class RateLimited(BadInput):
    """The connection sends faster than its allowance."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="rate_limited")


class Throttled(ChatError):
    """Too many failed logins from this address or on this account: HTTP 429 with
    ``Retry-After: retry_after`` (whole seconds)."""

    code = "too_many_attempts"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Refused(ChatError):
    """The router refused a state change (an offer already taken, a busy agent...): a lost
    race or a state that moved on, not a bug. HTTP 409; the message gives the reason."""


class NotFoundError(ChatError):
    """A session, file, agent or account that does not exist (or is not visible to you)."""


class Unavailable(ChatError):
    """Redis or the router cannot be reached right now; retrying later may work."""
