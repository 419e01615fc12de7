"""Who may place or take browser VoIP calls, read from the admin YAML (docs/voip.md).

The chat service reads the same admin YAML as the dialplan and the bridges (setting
``voip_config``). From it: per service, the VoIP entry point(s) a customer's browser may
call and the PBX whose WebSocket the relay connects to; per agent with ``phone: webrtc``,
their endpoint on their home PBX. The relay secret is read from the environment variable
the PBX's ``webrtc.relay_secret_env`` names (never from a file, never logged); customer
and agent SIP passwords are derived from it exactly as the renderers derive them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from admin_config import webrtc as w
from admin_config.model import AdminConfig, load_admin_config
from chat.errors import BadInput, ConfigError

SIP_DOMAIN = "implus.invalid"
"""Host part of the browsers' SIP URIs: the relay, not DNS, decides where they go."""


@dataclass(frozen=True)
class Line:
    """Where one browser's SIP goes and as whom: a customer's line or an agent's phone."""

    pbx_id: str
    ws_url: str
    endpoint: str
    password: str
    numbers: frozenset[str]
    ice_servers: tuple[dict[str, object], ...]

    def client_view(self) -> dict[str, object]:
        """What the browser gets: its SIP identity and ICE servers - no secret, no PBX URL."""
        return {
            "uri": f"sip:{self.endpoint}@{SIP_DOMAIN}",
            "numbers": sorted(self.numbers),
            "ice_servers": list(self.ice_servers),
        }


class VoipDirectory:
    """Lines by service (customers) and by agent id (softphones)."""

    def __init__(self, config: AdminConfig, env: Mapping[str, str] | None = None) -> None:
        self.config = config
        self._env = os.environ if env is None else env

    @classmethod
    def load(cls, path: Path, env: Mapping[str, str] | None = None) -> VoipDirectory:
        try:
            config = load_admin_config(path)
        except Exception as e:  # ConfigInvalid lists every problem; OSError a bad path
            raise ConfigError(f"voip_config {path}: {e}") from e
        directory = cls(config, env)
        for pbx in config.pbxs:
            if pbx.webrtc is not None:
                directory._secret(pbx.id)  # fail at start, not at the first call
        return directory

    def _secret(self, pbx_id: str) -> str:
        rtc = self.config.pbx(pbx_id).webrtc
        assert rtc is not None
        value = self._env.get(rtc.relay_secret_env, "")
        if len(value) < 16:
            raise ConfigError(
                f"voip_config: set {rtc.relay_secret_env} (the WebRTC relay secret of PBX "
                f"{pbx_id}, 16+ characters) in the chat service's environment - the same "
                "value `implus dialplan apply` rendered"
            )
        return value

    def _ice(self, pbx_id: str) -> tuple[dict[str, object], ...]:
        rtc = self.config.pbx(pbx_id).webrtc
        assert rtc is not None
        servers: list[dict[str, object]] = []
        for url in rtc.ice_servers:
            entry: dict[str, object] = {"urls": url}
            if url.startswith("turn") and rtc.turn_username and rtc.turn_password_env:
                entry["username"] = rtc.turn_username
                entry["credential"] = self._env.get(rtc.turn_password_env, "")
            servers.append(entry)
        return tuple(servers)

    def customer_line(self, service: str, user_id: str) -> Line:
        """The service's VoIP line for this user; BadInput (shown to the customer) if none."""
        entries = [
            e for e in self.config.entry_points if e.media == "voip" and e.service == service
        ]
        if not entries:
            raise BadInput(
                "this service has no VoIP line: chat with us instead", "voip_unavailable"
            )
        if not re.match(w.VOIP_USER, user_id):
            raise BadInput(
                "VoIP calls need a user id of letters, digits and + . _ @ only: ask the "
                "site for a new link",
                "voip_unavailable",
            )
        pbx = self.config.pbx(entries[0].pbx)
        assert pbx.webrtc is not None
        secret = self._secret(pbx.id)
        return Line(
            pbx.id,
            pbx.webrtc.ws_url(pbx.kind),
            w.CUSTOMER_ENDPOINT,
            w.customers_secret(secret),
            frozenset(e.extension for e in entries if e.pbx == pbx.id),
            self._ice(pbx.id),
        )

    def softphone(self, agent_id: str) -> Line | None:
        """The agent's softphone line, or None when their phone is not a WebRTC one."""
        agent = next((a for a in self.config.agents if a.id == agent_id), None)
        if agent is None or agent.phone != "webrtc" or not agent.pbx or not agent.endpoint:
            return None
        pbx = self.config.pbx(agent.pbx)
        if pbx.webrtc is None:
            return None
        secret = self._secret(pbx.id)
        return Line(
            pbx.id,
            pbx.webrtc.ws_url(pbx.kind),
            agent.endpoint,
            w.agent_secret(secret, agent.id),
            frozenset(),
            self._ice(pbx.id),
        )
