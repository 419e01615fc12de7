"""Shared data for the dialplan tests: a small valid admin config with both PBX kinds.

A module with its own name (not `conftest`): test modules import it directly, and
several `conftest` modules share one name in a whole-repo pytest run.
"""

from __future__ import annotations

import copy
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

SECRETS = {
    "T_AMI": "ami-secret",
    "T_ESL": "esl-secret",
    "T_PW_1001": "pw-1001",
    "T_PW_2001": "pw-2001",
    "T_CARRIER": "carrier-secret",
}

STRATEGY = """\
queues:
  booking: {skills: {booking: 1}}
  billing: {skills: {billing: 1}}
rules:
  - {name: billing, conditions: service == "billing", actions: {queue: billing}}
  - {name: booking, conditions: service == "booking", actions: {queue: booking}}
"""
"""The strategy file next to the base config: it uses exactly the agents' skills."""

BASE: dict[str, Any] = {
    "strategy": "strategy.yaml",
    "pbxs": [
        {"id": "ast1", "kind": "asterisk", "secret_env": "T_AMI", "sip_host": "127.0.0.1"},
        {"id": "fs1", "kind": "freeswitch", "secret_env": "T_ESL", "sip_host": "127.0.0.3"},
    ],
    "services": [
        {
            "id": "booking",
            "label": "Booking",
            "recording": {"announcement": "custom/call-recorded", "retention_days": 30},
        },
        {"id": "billing", "recording": {"announcement": "ivr/ivr-this_call_may_be_recorded.wav"}},
    ],
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
    "supervisors": [
        {
            "id": "root",
            "name": "Root",
            "pbx": "ast1",
            "endpoint": "1900",
            "contact": "sip:1900@127.0.0.1:5090",
        },
        {"id": "boss", "pbx": "fs1", "endpoint": "2900", "contact": "sip:2900@127.0.0.1:5091"},
    ],
}


def base_config() -> dict[str, Any]:
    """A fresh deep copy of the small valid config (both PBX kinds)."""
    return copy.deepcopy(BASE)


WriteConfig = Callable[..., Path]
"""The `write_config` fixture: (config dict or YAML text, name) -> path of the file."""


def free_port_for_test() -> int:
    """A loopback port nothing listens on (for 'PBX unreachable' tests)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
