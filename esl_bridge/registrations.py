"""`show registrations as json`: the SIP phones registered right now, read after a reconnect.

FreeSWITCH lists its core `registrations` table (filled by mod_sofia for every REGISTER,
`switch_core_add_registration`), columns `reg_user, realm, token, url, expires, network_ip,
network_port, network_proto, hostname, metadata`, in the same JSON shape as `show channels`:
`{"row_count": 0}` with a newline when empty, else `{"row_count":N,"rows":[{...}]}`.
"""

from __future__ import annotations

from dataclasses import dataclass

from esl_bridge.channels import show_rows
from esl_bridge.errors import EslProtocolError


@dataclass(frozen=True)
class RegistrationRow:
    """One registered contact of a SIP user."""

    user: str
    realm: str
    url: str
    expires: int | None
    network_ip: str
    network_port: str


def parse_show_registrations(body: str) -> list[RegistrationRow]:
    """Rows of a `show registrations as json` answer; EslProtocolError if it is not that."""
    result = []
    for row in show_rows(body, "registrations"):
        if not row.get("reg_user"):
            raise EslProtocolError(f"show registrations row without reg_user: {row!r:.120}")
        expires = str(row.get("expires", ""))
        result.append(
            RegistrationRow(
                user=str(row["reg_user"]),
                realm=str(row.get("realm", "")),
                url=str(row.get("url", "")),
                expires=int(expires) if expires.isdigit() else None,
                network_ip=str(row.get("network_ip", "")),
                network_port=str(row.get("network_port", "")),
            )
        )
    return result
