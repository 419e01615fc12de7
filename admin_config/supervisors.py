"""Supervisors with a phone (`supervisors:` in the admin YAML): listen, whisper and barge.

    supervisors:
      - {id: root, name: Supervisor, pbx: ast1, endpoint: "1900", password_env: IMPLUS_1900_PW}

`id` is the supervisor's login (an admin account of the chat service). The phone is an
agent-like endpoint the dialplan renders like an agent's (`AdminConfig.phones_on`), so the
bridge can ring it to listen in on a live call (docs/call-flow.md, "Call control").
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints

from admin_config import names


class Supervisor(BaseModel):
    """A supervisor and the phone the bridge rings to listen in on a call."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[str, StringConstraints(pattern=names.NAME)]
    name: Annotated[str, StringConstraints(max_length=200)] = ""
    pbx: Annotated[str, StringConstraints(pattern=names.NAME)]
    endpoint: Annotated[str, StringConstraints(pattern=names.ENDPOINT)]
    password_env: Annotated[str, StringConstraints(pattern=names.ENV)] | None = None
    contact: Annotated[str, StringConstraints(pattern=names.SIP_URI)] | None = None

    def phone_fields(self) -> dict[str, Any]:
        """The fields an agent-like phone entry needs (for rendering and dialling)."""
        return {
            "id": self.id,
            "name": self.name,
            "pbx": self.pbx,
            "endpoint": self.endpoint,
            "password_env": self.password_env,
            "contact": self.contact,
        }
