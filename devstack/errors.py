"""Errors of the Asterisk sandbox; every message says what to do next."""


class SandboxError(RuntimeError):
    """The sandbox cannot be built, started, stopped or reached."""
