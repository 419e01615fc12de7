"""Helpers for dialplan tests: a small valid admin config as a dict, written to a folder."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

SECRETS = {
    "T_AMI": "ami-secret",
    "T_ESL": "esl-secret",
    "T_PW_1001": "pw-1001",
    "T_PW_2001": "pw-2001",
    "T_CARRIER": "carrier-secret",
}

BASE: dict[str, Any] = {
    "strategy": "strategy.yaml",
    "pbxs": [
        {"id": "ast1", "kind": "asterisk", "secret_env": "T_AMI", "sip_host": "127.0.0.1"},
        {"id": "fs1", "kind": "freeswitch", "secret_env": "T_ESL", "sip_host": "127.0.0.3"},
    ],
    "services": [{"id": "booking", "label": "Booking"}, {"id": "billing"}],
    "entry_points": [
        {
            "id": "booking_en",
            "pbx": "ast1",
            "extension": "800",
            "service": "booking",
            "max_wait": 60,
            "overflow": {"type": "voicemail", "mailbox": "1000"},
        },
        {
            "id": "billing_de",
            "pbx": "fs1",
            "extension": "900",
            "service": "billing",
            "language": "de",
            "overflow": {"type": "entry_point", "entry_point": "booking_en"},
        },
    ],
    "agents": [
        {
            "id": "alice",
            "name": "Alice",
            "pbx": "ast1",
            "endpoint": "1001",
            "password_env": "T_PW_1001",
            "skills": {"booking": 3},
        },
        {
            "id": "bob",
            "name": "Bob",
            "pbx": "fs1",
            "endpoint": "2001",
            "password_env": "T_PW_2001",
            "skills": {"billing": 2},
        },
        {"id": "carol", "capacity": {"voice": 0, "voip": 0, "chat": 4}},
    ],
    "trunks": [
        {
            "id": "carrier",
            "pbx": "ast1",
            "host": "192.0.2.10",
            "username": "acme",
            "secret_env": "T_CARRIER",
            "dial_prefix": "0",
        },
        {"id": "fs_out", "pbx": "fs1", "gateway": "carrier"},
        {"id": "link", "kind": "inter_pbx", "pbxs": ["ast1", "fs1"]},
    ],
}


def base_config() -> dict[str, Any]:
    """A fresh deep copy of the small valid config (both PBX kinds)."""
    return copy.deepcopy(BASE)


WriteConfig = Callable[..., Path]


@pytest.fixture
def write_config(tmp_path: Path) -> WriteConfig:
    """Write a config (dict or YAML text) plus a strategy file; return the config path."""

    def write(config: dict[str, Any] | str | None = None, name: str = "admin.yaml") -> Path:
        (tmp_path / "strategy.yaml").write_text("rules: []\n", encoding="utf-8")
        data = base_config() if config is None else config
        text = data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False)
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture
def secrets_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    return dict(SECRETS)


def free_port_for_test() -> int:
    """A loopback port nothing listens on (for 'PBX unreachable' tests)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
