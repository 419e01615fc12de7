"""The admin configuration's exceptions: one base, one class per kind of failure."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from admin_config.problems import Problem


class AdminConfigError(Exception):
    """Base of every error raised by `admin_config`."""


class ConfigInvalid(AdminConfigError):
    """The admin YAML has problems; `problems` lists every one, each with its YAML path."""

    def __init__(self, problems: Sequence[Problem], source: str | None = None) -> None:
        self.problems = list(problems)
        self.source = source
        lines = [p.format(source) for p in self.problems]
        super().__init__(f"{len(lines)} problem(s) in the admin config:\n" + "\n".join(lines))


class MissingSecret(AdminConfigError):
    """An environment variable named in the config as holding a secret is not set."""

    def __init__(self, names: Sequence[tuple[str, str]]) -> None:
        self.names = [n for n, _ in names]
        what = "; ".join(f"{name} ({purpose})" for name, purpose in names)
        super().__init__(
            f"secret environment variable(s) not set: {what}. "
            "Export them before rendering; the config holds only their names."
        )


class BadSecret(AdminConfigError):
    """A secret's value cannot be written safely (control characters, blanks at the ends)."""


class NoRoute(AdminConfigError):
    """There is no configured way to reach the target from this PBX."""


class ReloadFailed(AdminConfigError):
    """The PBX did not confirm a reload over its management link (AMI / ESL)."""
