"""Secrets: read from the environment variables the config names, only when needed.

A `Secrets` object is handed to the renderers; it records which variables were asked for
so that a missing one is reported with every other missing one (and what it is for),
never one at a time. Values are never logged or shown: `mask()` hides them in diffs.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from admin_config.errors import BadSecret, MissingSecret

#: Config keys whose values are secrets in generated files (pjsip, manager.conf, XML).
_SECRET_LINE = re.compile(r"^(\s*(?:password|secret)\s*=\s*).+$", re.IGNORECASE | re.MULTILINE)
_SECRET_PARAM = re.compile(r'(<param name="password" value=")[^"]*(")')


class Secrets:
    """Look up secret values by variable name; collect the missing ones."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self._env = os.environ if env is None else env
        self._missing: dict[str, str] = {}

    def get(self, name: str, purpose: str) -> str:
        """The value of variable `name` ('' when missing; `raise_missing()` reports it)."""
        value = self._env.get(name)
        if value is None or value == "":
            self._missing.setdefault(name, purpose)
            return ""
        if any(ord(c) < 32 or ord(c) == 127 for c in value) or value != value.strip():
            raise BadSecret(
                f"{name} ({purpose}) holds control characters or blanks at its ends; "
                "they cannot be written into PBX configuration safely - change the secret"
            )
        return value

    def raise_missing(self) -> None:
        """Raise `MissingSecret` naming every variable asked for but not set."""
        if self._missing:
            raise MissingSecret(sorted(self._missing.items()))


def mask(text: str) -> str:
    """`text` with the values of secret keys replaced by ``********`` (for diffs, logs)."""
    text = _SECRET_LINE.sub(r"\g<1>********", text)
    return _SECRET_PARAM.sub(r"\g<1>********\g<2>", text)
