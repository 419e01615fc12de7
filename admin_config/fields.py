"""The value types the admin YAML's fields are made of (names, hosts, extensions...) and
the base of its models: unknown keys refused, values frozen."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from admin_config import names

Name = Annotated[str, StringConstraints(pattern=names.NAME)]
Slug = Annotated[str, StringConstraints(pattern=names.SLUG)]
EndpointName = Annotated[str, StringConstraints(pattern=names.ENDPOINT)]
EnvName = Annotated[str, StringConstraints(pattern=names.ENV)]
ContextName = Annotated[str, StringConstraints(pattern=names.CONTEXT)]
Host = Annotated[str, StringConstraints(pattern=names.HOST)]
Port = Annotated[int, Field(ge=1, le=65535)]
Extension = Annotated[
    str,
    StringConstraints(pattern=f"({names.LITERAL_EXTENSION})|({names.PATTERN_EXTENSION})"),
]
LiteralExtension = Annotated[str, StringConstraints(pattern=names.LITERAL_EXTENSION)]
Digits = Annotated[str, StringConstraints(pattern=names.DIGITS)]
Language = Annotated[str, StringConstraints(pattern=names.LANGUAGE)]
FreeText = Annotated[str, StringConstraints(max_length=200)]
"""Labels and display names: any text; renderers neutralise it where they write it."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)
