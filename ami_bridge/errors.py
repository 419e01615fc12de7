"""Errors of the AMI bridge. Library and socket errors are converted at the boundary."""

from __future__ import annotations


class AmiError(Exception):
    """Anything that went wrong talking to Asterisk over AMI."""


class AmiUnavailable(AmiError):
    """No usable AMI link: not connected yet, or the link dropped while waiting."""


class AmiTimeout(AmiError):
    """Asterisk did not complete an action (or a Ping) within its deadline."""


class AmiLoginFailed(AmiError):
    """Asterisk rejected the username/secret: check manager.conf and the bridge config."""


class AmiActionFailed(AmiError):
    """Asterisk answered `Response: Error` to an action."""

    def __init__(self, action: str, message: str) -> None:
        super().__init__(f"AMI action {action} failed: {message}")
        self.action = action
        self.message = message
