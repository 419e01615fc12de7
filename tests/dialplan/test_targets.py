"""The names and dial strings bridges take from admin_config.targets match the rendered files."""

from __future__ import annotations

import pytest
from dialplan_helpers import WriteConfig, base_config

from admin_config import targets
from admin_config.model import AdminConfig, load_admin_config


@pytest.fixture
def config(write_config: WriteConfig) -> AdminConfig:
    return load_admin_config(write_config())


def test_agent_dial_strings(config: AdminConfig) -> None:
    assert targets.agent_dial_string(config, "ast1", "alice") == "PJSIP/1001"
    assert targets.agent_dial_string(config, "fs1", "bob") == "user/2001"
    # a caller on one PBX rings an agent whose phone is on the other, over the trunk
    assert targets.agent_dial_string(config, "ast1", "bob") == "PJSIP/2001@implus-trunk-link"
    assert (
        targets.agent_dial_string(config, "fs1", "alice") == "sofia/gateway/implus-trunk-link/1001"
    )
    with pytest.raises(targets.NoRoute, match="chat only"):
        targets.agent_dial_string(config, "ast1", "carol")


def test_no_trunk_no_route(write_config: WriteConfig) -> None:
    data = base_config()
    data["trunks"].pop(2)
    data["entry_points"][1]["overflow"] = "hangup"
    config = load_admin_config(write_config(data))
    with pytest.raises(targets.NoRoute, match="no inter_pbx trunk links it to ast1"):
        targets.agent_dial_string(config, "ast1", "bob")


def test_explicit_domain(write_config: WriteConfig) -> None:
    data = base_config()
    data["pbxs"][1]["domain"] = "fs.example.com"
    config = load_admin_config(write_config(data))
    assert targets.agent_dial_string(config, "fs1", "bob") == "user/2001@fs.example.com"


def test_destinations(config: AdminConfig) -> None:
    overflow = targets.overflow_destination(config, "billing_de")
    assert (overflow.context, overflow.exten, overflow.priority) == (
        "implus-overflow",
        "billing_de",
        1,
    )
    assert overflow.freeswitch() == "billing_de XML implus-overflow"
    assert targets.connect_destination() == targets.Destination("implus-connect", "s")
    assert targets.hold_destination("801") == targets.Destination("implus-entry", "801", "hold")
    assert targets.outbound_destination(config, "ast1").exten == "carrier"
    assert targets.outbound_destination(config, "fs1", "billing").exten == "fs_out"


def test_service_trunk_wins_on_its_pbx(write_config: WriteConfig) -> None:
    data = base_config()
    data["trunks"].append({"id": "intl", "pbx": "ast1", "host": "192.0.2.20"})
    data["services"][1]["outbound_trunk"] = "intl"
    config = load_admin_config(write_config(data))
    assert targets.outbound_trunk(config, "ast1", "billing").id == "intl"
    assert targets.outbound_trunk(config, "ast1", "booking").id == "carrier"  # first = default
    assert targets.outbound_trunk(config, "fs1", "billing").id == "fs_out"  # other PBX


def test_no_outbound_trunk(write_config: WriteConfig) -> None:
    data = base_config()
    data["trunks"] = [data["trunks"][2]]
    config = load_admin_config(write_config(data))
    with pytest.raises(targets.NoRoute, match="no outbound trunk"):
        targets.outbound_destination(config, "ast1")
