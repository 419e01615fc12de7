"""What the sandbox-dialplan tests share: the admin config they install on the sandbox
Asterisk (with hostile-looking labels already), and an AMI UserEvent matcher."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from ami_tap import Message

from admin_config.model import AdminConfig, load_admin_config
from devstack import AsteriskSandbox
from dialplan.apply import ApplyResult, apply
from dialplan.rendering import select_pbx

AMI_SECRET_ENV = "IMPLUS_TEST_DIALPLAN_AMI"
AGENT_PORT = 5081


def config_dict(sandbox: AsteriskSandbox) -> dict[str, Any]:
    return {
        "strategy": "strategy.yaml",
        "hold_margin": 2,
        "pbxs": [
            {
                "id": "sandbox",
                "kind": "asterisk",
                "username": "implus_dialplan",  # not the sandbox's own `implus` user
                "secret_env": AMI_SECRET_ENV,
                "config_dir": str(sandbox.etc),
                "phone_context": "sandbox-inbound",
                "transport": "transport-udp",
            }
        ],
        "services": [{"id": "booking", "label": 'Booking, "VIP"; (x)\nexten => 6,1,Hangup'}],
        "entry_points": [
            {
                "id": "booking_en",
                "pbx": "sandbox",
                "extension": "800",
                "service": "booking",
                "max_wait": 30,
                "overflow": "hangup",
            },
            {
                "id": "quick",
                "pbx": "sandbox",
                "extension": "801",
                "service": "booking",
                "max_wait": 1,
                "overflow": {"type": "extension", "extension": "9991", "context": "sandbox-test"},
            },
        ],
        "agents": [
            {
                "id": "alice",
                "name": "Alice; <evil>",
                "pbx": "sandbox",
                "endpoint": "1001",
                "contact": f"sip:1001@127.0.0.1:{AGENT_PORT}",
            },
        ],
        "trunks": [
            {
                "id": "carrier",
                "pbx": "sandbox",
                "host": "127.0.0.2",
                "port": 5070,
                "dial_prefix": "9",
            },
        ],
    }


def load_config(tmp_path: Path, data: dict[str, Any]) -> AdminConfig:
    (tmp_path / "strategy.yaml").write_text("rules: []\n")
    path = tmp_path / "admin.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_admin_config(path)


def user_event(name: str, **headers: str) -> Any:
    def match(m: Message) -> bool:
        return m.get("UserEvent") == [name] and all(m.get(k) == [v] for k, v in headers.items())

    return match


def install(sandbox: AsteriskSandbox, tmp_path: Path, data: dict[str, Any]) -> ApplyResult:
    """Apply `data` as an admin does (no reload over AMI: the user may not exist yet),
    then reload the sandbox once."""
    config = load_config(tmp_path, data)
    result = apply(config, select_pbx(config, "sandbox"), None)
    sandbox.reload()
    return result
