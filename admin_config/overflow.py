"""An entry point's overflow: where a caller goes when nobody answered within max wait."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints, model_validator

from admin_config import names

ContextName = Annotated[str, StringConstraints(pattern=names.CONTEXT)]
LiteralExtension = Annotated[str, StringConstraints(pattern=names.LITERAL_EXTENSION)]


class Overflow(BaseModel):
    """Where a caller goes when nobody answered within the entry point's max wait."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)

    type: Literal["hangup", "voicemail", "extension", "entry_point"] = "hangup"
    mailbox: Annotated[str, StringConstraints(pattern=names.MAILBOX)] | None = None
    extension: LiteralExtension | None = None
    context: ContextName | None = None
    entry_point: Annotated[str, StringConstraints(pattern=names.SLUG)] | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        # `overflow: hangup` is the same as `overflow: {type: hangup}`.
        if isinstance(data, str):
            return {"type": data}
        return data

    @model_validator(mode="after")
    def _fields_match_type(self) -> Overflow:
        needs = {
            "hangup": set(),
            "voicemail": {"mailbox"},
            "extension": {"extension"},
            "entry_point": {"entry_point"},
        }[self.type]
        allowed = needs | ({"context"} if self.type in ("voicemail", "extension") else set())
        given = {f for f in ("mailbox", "extension", "context", "entry_point") if getattr(self, f)}
        missing = sorted(needs - given)
        extra = sorted(given - allowed)
        if missing:
            raise ValueError(f"overflow type {self.type!r} needs {', '.join(missing)}")
        if extra:
            raise ValueError(f"overflow type {self.type!r} does not use {', '.join(extra)}")
        return self

    def describe(self) -> str:
        """Short human form: ``voicemail 1000@default``, ``entry point billing_main``."""
        if self.type == "voicemail":
            return f"voicemail {self.mailbox}" + (f"@{self.context}" if self.context else "")
        if self.type == "extension":
            return f"extension {self.extension}" + (f"@{self.context}" if self.context else "")
        if self.type == "entry_point":
            return f"entry point {self.entry_point}"
        return "hangup"
