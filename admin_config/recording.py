"""Call recording, switched per service in the admin YAML (`services[].recording`).

    services:
      - id: booking
        recording: {enabled: true, announcement: custom/call-recorded, retention_days: 30}

The PBX records a call from the moment the customer and the agent are connected until the
call ends (Asterisk MixMonitor, FreeSWITCH uuid_record) into its `recordings_dir`; the
announcement (a prompt the PBX plays to the caller at the entry point, before the call is
filed: where the law asks callers to be told) is optional; recordings older than
`retention_days` are deleted by `implus chat prune-recordings` and the chat service's
periodic job (docs/chat.md).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

PROMPT = r"^[A-Za-z0-9_][A-Za-z0-9_/.-]{0,127}$"
"""A sound the PBX plays by name (`custom/call-recorded`; FreeSWITCH also a path such as
`ivr/ivr-this_call_may_be_recorded.wav`): no `..`, spaces, `$`, `,`, `;`, `{`..."""
PROMPT_HINT = "a sound name such as custom/call-recorded (letters, digits, '_', '/', '.', '-')"

RECORDINGS_DIR = r"^/[A-Za-z0-9_./-]{1,200}$"
"""An absolute folder (as the PBX sees it) without spaces or shell/dialplan syntax."""


class Recording(BaseModel):
    """Whether and how a service's calls are recorded."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    announcement: Annotated[str, StringConstraints(pattern=PROMPT)] | None = None
    """Played to the caller at the entry point before the call is filed."""
    retention_days: Annotated[int, Field(ge=1, le=3650)] = 90
    """Recordings older than this are deleted."""

    @field_validator("announcement")
    @classmethod
    def _no_parent(cls, value: str | None) -> str | None:
        if value is not None and ".." in value.split("/"):
            raise ValueError(f"{value!r}: '..' is not allowed in a prompt name")
        return value


def check_recordings_dir(value: str) -> str | None:
    """Why a `recordings_dir` cannot be used, or None."""
    if ".." in value.split("/"):
        return f"{value!r}: '..' is not allowed in recordings_dir"
    return None
