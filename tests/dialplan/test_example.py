"""examples/admin.yaml, the documented example, stays valid and renders for both PBXs."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from admin_config.secrets import Secrets
from admin_config.validate import validate_file
from dialplan.rendering import render

EXAMPLE = Path(__file__).parents[2] / "examples" / "admin.yaml"
ENV = {
    "IMPLUS_AST1_AMI_SECRET": "a",
    "IMPLUS_FS1_ESL_PASSWORD": "b",
    "IMPLUS_SIP_1001": "c",
    "IMPLUS_SIP_2001": "d",
    "IMPLUS_SIP_1900": "e",
    "IMPLUS_CARRIER_SECRET": "e",
}


def test_example_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    result = validate_file(EXAMPLE)
    assert [p.format() for p in result.problems] == []
    assert result.config is not None
    assert {p.kind for p in result.config.pbxs} == {"asterisk", "freeswitch"}


def test_example_renders_for_both_pbxs() -> None:
    config = validate_file(EXAMPLE).config
    assert config is not None
    for pbx in config.pbxs:
        files = render(config, pbx, Secrets(ENV))
        assert files
        for f in files:
            if f.path.endswith(".xml"):
                ET.fromstring(f.content)
