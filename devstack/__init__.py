"""A real Asterisk 22 for tests, benchmarks and demos: a Debian sid chroot on loopback.

`implus sandbox asterisk up|down|status` (see `cli.py`) and the pytest fixture both use
`AsteriskSandbox`. Facts verified on this Asterisk are in docs/asterisk-sandbox.md.
"""

from . import build, configs
from .asterisk import AsteriskSandbox, SandboxStatus, ami_fully_booted, default_root
from .cli import sandbox_group
from .errors import SandboxError

__all__ = [
    "AsteriskSandbox",
    "SandboxError",
    "SandboxStatus",
    "ami_fully_booted",
    "build",
    "configs",
    "default_root",
    "sandbox_group",
]
