"""A small call centre on the sandbox Asterisk: admin YAML, generated dialplan, agent phones.

Tests, the benchmark and demos need the same thing: an admin config for the sandbox PBX,
the dialplan `implus dialplan apply` generates from it installed in the sandbox, and agent
phones (sipp UAS) the sandbox can ring. `Lab.install()` does that:

- `extensions_implus.conf` and `manager_implus.conf` come from the real renderer
  (`dialplan.apply`), so the bridge runs against the contract of docs/call-flow.md and
  logs in as the AMI user the renderer generates (its read/write classes, no `command`);
- `pjsip_implus.conf` is written here: agent phones with a static contact and qualify
  (`sipp.agent_endpoint_config`), and the outbound trunk to the customers' phone, all
  with `media_address` on loopback (the renderer's endpoints would bind RTP everywhere).

Agents are phones on 127.0.0.1:<port>; several agents may share one port (one sipp UAS
answers for all of them - what the benchmark does).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from admin_config.model import AdminConfig, load_admin_config
from admin_config.secrets import Secrets
from admin_config.targets import trunk_name
from dialplan.apply import apply
from dialplan.rendering import select_pbx

from . import configs
from .asterisk import AsteriskSandbox
from .sipp import agent_endpoint_config

PBX_ID = "sandbox"
AMI_USER = "implus_bridge"
AMI_SECRET_ENV = "IMPLUS_SANDBOX_BRIDGE_SECRET"  # noqa: S105 - a variable name
AMI_SECRET = "bridge-sandbox"  # noqa: S105 - a loopback-only test PBX
TRUNK_ID = "carrier"
RELAY_SECRET_ENV = "IMPLUS_SANDBOX_RELAY_SECRET"  # noqa: S105 - a variable name
RELAY_SECRET = "relay-sandbox-secret-0123456789"  # noqa: S105 - a loopback-only test PBX
WS_PORT = 8088
RECORDINGS_DIR = "/var/spool/asterisk/monitor/implus"
"""The sandbox Asterisk's recordings folder (the admin YAML's default for Asterisk)."""


@dataclass(frozen=True)
class LabAgent:
    """An agent with a phone on 127.0.0.1:`port` (static contact, qualified by OPTIONS)."""

    id: str
    endpoint: str
    port: int
    skills: dict[str, int] = field(default_factory=dict)
    voice: int = 1
    chat: int = 3
    phone: str = "sip"
    """``webrtc``: a browser softphone (registers through the chat relay; `port` unused)."""


@dataclass(frozen=True)
class LabEntry:
    """An entry point: callers dial `extension` from the customers' side."""

    id: str
    extension: str
    service: str
    max_wait: int = 120
    overflow: dict[str, Any] | str = "hangup"
    language: str = "en"
    media: str = "voice"
    """``voip``: the customers' "Call us" line from the browser (docs/voip.md)."""


@dataclass
class Lab:
    """The config of one sandbox call centre, written to `folder` and installed."""

    box: AsteriskSandbox
    folder: Path
    agents: list[LabAgent]
    entries: list[LabEntry]
    services: tuple[str, ...] = ("booking", "billing")
    strategy: str = "rules: []\n"
    hold_margin: int = 5
    qualify: float = 1.0
    extra_pjsip: str = ""
    extra_extensions: str = ""
    """Appended to the generated extensions_implus.conf (e.g. `[implus-entry](+)` lines)."""
    queues: str = ""
    """app_queue queues (queues_implus.conf), e.g. for a side-by-side benchmark."""
    record: tuple[str, ...] = ()
    """Services whose calls the PBX records (`recording:` in the admin YAML), into the
    sandbox's default recordings folder (`recordings_folder()` on this machine)."""
    admin_hook: Callable[[dict[str, Any]], None] | None = None
    """Edits the admin dict before it is written: more PBXs, agents homed on them, inter-PBX
    trunks (only the sandbox PBX is rendered and installed here)."""

    @property
    def config_path(self) -> Path:
        return self.folder / "admin.yaml"

    def admin_dict(self) -> dict[str, Any]:
        data = self._sandbox_admin_dict()
        if self.admin_hook is not None:
            self.admin_hook(data)
        return data

    @property
    def webrtc(self) -> bool:
        """Browser VoIP is on when an entry point is VoIP or an agent has a softphone."""
        return any(e.media == "voip" for e in self.entries) or any(
            a.phone == "webrtc" for a in self.agents
        )

    def _sandbox_admin_dict(self) -> dict[str, Any]:
        data = self._base_admin_dict()
        if self.webrtc:
            data["pbxs"][0]["webrtc"] = {
                "ws_host": configs.SIP_HOST,
                "ws_port": WS_PORT,
                "relay_secret_env": RELAY_SECRET_ENV,
                "media_address": configs.SIP_HOST,
            }
        return data

    def _base_admin_dict(self) -> dict[str, Any]:
        return {
            "strategy": "strategy.yaml",
            "hold_margin": self.hold_margin,
            "pbxs": [
                {
                    "id": PBX_ID,
                    "kind": "asterisk",
                    "host": configs.AMI_HOST,
                    "port": configs.AMI_PORT,
                    "username": AMI_USER,
                    "secret_env": AMI_SECRET_ENV,
                    "config_dir": str(self.box.etc),
                    "phone_context": "sandbox-inbound",
                    "transport": "transport-udp",
                }
            ],
            "services": [
                {"id": s, **({"recording": {"retention_days": 30}} if s in self.record else {})}
                for s in self.services
            ],
            "entry_points": [
                {
                    "id": e.id,
                    "pbx": PBX_ID,
                    "extension": e.extension,
                    "service": e.service,
                    "language": e.language,
                    "max_wait": e.max_wait,
                    "overflow": e.overflow,
                    **({"media": e.media} if e.media != "voice" else {}),
                }
                for e in self.entries
            ],
            "agents": [
                {
                    "id": a.id,
                    "name": a.id.title(),
                    "pbx": PBX_ID,
                    "endpoint": a.endpoint,
                    **(
                        {"phone": "webrtc"}
                        if a.phone == "webrtc"
                        else {"contact": f"sip:{a.endpoint}@{configs.SIP_HOST}:{a.port}"}
                    ),
                    "skills": a.skills,
                    "capacity": {"voice": a.voice, "chat": a.chat, "voip": a.voice},
                }
                for a in self.agents
            ],
            "trunks": [
                {
                    "id": TRUNK_ID,
                    "pbx": PBX_ID,
                    "host": configs.CUSTOMER_HOST,
                    "port": configs.CUSTOMER_UAS_PORT,
                }
            ],
        }

    def recordings_folder(self) -> Path:
        """Where this machine finds the recordings the sandbox Asterisk writes (its chroot's
        /var/spool/asterisk/monitor/implus): the chat service's `recordings_dirs`."""
        return self.box.chroot_path(RECORDINGS_DIR)

    def write(self) -> AdminConfig:
        """Write admin.yaml and strategy.yaml into `folder`; return the loaded config."""
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "strategy.yaml").write_text(self.strategy, encoding="utf-8")
        self.config_path.write_text(yaml.safe_dump(self.admin_dict(), sort_keys=False))
        return load_admin_config(self.config_path)

    def pjsip(self) -> str:
        """Agent phones (static contacts) and the outbound trunk to the customers' phone."""
        out = "".join(
            agent_endpoint_config(a.endpoint, contact_port=a.port, qualify=self.qualify)
            for a in self.agents
            if a.phone != "webrtc"  # softphones: the renderer's pjsip_webrtc_implus.conf
        )
        trunk = trunk_name(TRUNK_ID)
        out += (
            f"[{trunk}]\ntype = endpoint\ncontext = sandbox-inbound\ndisallow = all\n"
            f"allow = ulaw,alaw\ndirect_media = no\naors = {trunk}\n"
            f"media_address = {configs.SIP_HOST}\nbind_rtp_to_media_address = yes\n\n"
            f"[{trunk}]\ntype = aor\n"
            f"contact = sip:{configs.CUSTOMER_HOST}:{configs.CUSTOMER_UAS_PORT}\n\n"
        )
        return out + self.extra_pjsip

    def install(self, env: dict[str, str] | None = None) -> AdminConfig:
        """Write the config, install the generated files, reload the sandbox.

        `env` receives the AMI secret variable (pass `os.environ` or a monkeypatch-able
        dict); the secret is needed to render manager_implus.conf and by the bridge.
        """
        if env is not None:
            env[AMI_SECRET_ENV] = AMI_SECRET
            env[RELAY_SECRET_ENV] = RELAY_SECRET
        config = self.write()
        self.box.adopt_includes()  # files an older implus wrote without the header
        if self.webrtc:
            # Asterisk may have been started by an older checkout whose base configs lack
            # the WebRTC includes (http.conf, the tryinclude lines): bring them up to date.
            self.box.write_base_configs()
        pbx = select_pbx(config, PBX_ID)
        secrets = Secrets({AMI_SECRET_ENV: AMI_SECRET, RELAY_SECRET_ENV: RELAY_SECRET})
        apply(config, pbx, None, secrets=secrets)
        self.box.write_include("pjsip_implus.conf", self.pjsip())
        if self.extra_extensions:
            generated = (self.box.etc / "extensions_implus.conf").read_text(encoding="utf-8")
            self.box.write_include(
                "extensions_implus.conf", generated + "\n" + self.extra_extensions
            )
        self.box.write_include("queues_implus.conf", self.queues)
        self.box.reload()
        return config
