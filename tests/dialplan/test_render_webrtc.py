"""Browser VoIP include files (dialplan/render_webrtc_*.py): what they hold, that nothing
from the YAML can break out of them, and the checks around `webrtc:` (docs/voip.md)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from dialplan_helpers import SECRETS, base_config
from freeswitch_fixture.dialplan import Dialplan

from admin_config import webrtc as w
from admin_config.secrets import Secrets
from admin_config.validate import validate_file
from dialplan.rendering import render, select_pbx

RELAY = "relay-secret-for-tests-0123"


def voip_config() -> dict[str, Any]:
    data = base_config()
    for pbx in data["pbxs"]:
        pbx["webrtc"] = {"relay_secret_env": "T_RELAY", "media_address": "127.0.0.1"}
    data["entry_points"] += [
        {
            "id": "booking_voip",
            "pbx": "ast1",
            "extension": "810",
            "service": "booking",
            "media": "voip",
        },
        {
            "id": "billing_voip",
            "pbx": "fs1",
            "extension": "910",
            "service": "billing",
            "media": "voip",
            "label": '<X-PRE-PROCESS cmd="exec" data="touch /tmp/p"/> ${x} $${y} #exec x ; y',
        },
    ]
    data["agents"] += [
        {
            "id": "dave",
            "name": 'Dave "${evil}" <X-PRE-PROCESS>',
            "pbx": "ast1",
            "endpoint": "3001",
            "phone": "webrtc",
        },
        {
            "id": "erin",
            "name": "Erin #include /etc/passwd",
            "pbx": "fs1",
            "endpoint": "4001",
            "phone": "webrtc",
        },
    ]
    return data


def rendered(write_config: Any, data: dict[str, Any], pbx: str) -> dict[str, str]:
    path = write_config(data)
    result = validate_file(path)
    assert not result.errors, result.errors
    assert result.config is not None
    files = render(
        result.config, select_pbx(result.config, pbx), Secrets({**SECRETS, "T_RELAY": RELAY})
    )
    return {f.path: f.content for f in files}


def test_asterisk_files(write_config: Any) -> None:
    files = rendered(write_config, voip_config(), "ast1")
    http = files["http_implus.conf"]
    assert "bindaddr=127.0.0.1" in http and "bindport=8088" in http
    pjsip = files["pjsip_webrtc_implus.conf"]
    assert "[implus-ws]\ntype=transport\nprotocol=ws" in pjsip
    customers = pjsip.split("[implus-webrtc-customers]")[1]
    for line in (
        "context=implus-webrtc",
        "webrtc=yes",
        "allow_transfer=no",
        "auth=implus-webrtc-customers-auth",
    ):
        assert line in customers
    assert f"password={w.customers_secret(RELAY)}" in pjsip
    assert f"password={w.agent_secret(RELAY, 'dave')}" in pjsip
    assert RELAY not in pjsip  # only derived secrets land in files
    # the softphone is not in the SIP phones' file
    assert "[3001]" not in files["pjsip_implus.conf"] and "[3001]" in pjsip
    ext = files["extensions_webrtc_implus.conf"]
    assert "exten => 810,1," in ext and "Goto(implus-entry,810,1)" in ext
    assert "exten => 800" not in ext and "exten => 1001" not in ext  # nothing else reachable
    assert "FILTER(0-9A-Za-z+._@,${PJSIP_HEADER(read,X-Implus-User)})" in ext
    entry = files["extensions_implus.conf"].split("exten => 810,1,")[1].split("exten =>")[0]
    assert ",IMPLUS_MEDIA=voip," in entry and ",Media: voip)" in entry
    # free text stays in comments, one line each, never as code
    for name, body in files.items():
        for line in body.splitlines():
            if not line.startswith(";"):
                assert "#exec" not in line and "#include" not in line and '"${' not in line, (
                    name,
                    line,
                )


def test_freeswitch_files_are_well_formed_and_inert(write_config: Any) -> None:
    files = rendered(write_config, voip_config(), "fs1")
    new = {p: t for p, t in files.items() if "webrtc" in p}
    assert set(new) == {
        "sip_profiles/implus_webrtc.xml",
        "directory/default/implus_webrtc.xml",
        "dialplan/implus_webrtc.xml",
    }
    for path, body in new.items():
        ET.fromstring(body.split("\n", 1)[1])  # well-formed
        assert "$${" not in body and "<X-PRE-PROCESS" not in body.upper(), path
        assert not re.search(r"\$\{(?!sip_h_X-Implus-User\})", body), path
    profile = ET.fromstring(new["sip_profiles/implus_webrtc.xml"].split("\n", 1)[1])
    params = {p.get("name"): p.get("value") for p in profile.iter("param")}
    assert params["ws-binding"] == "127.0.0.1:5066" and params["context"] == "implus-webrtc"
    assert params["auth-calls"] == "true" and params["disable-transfer"] == "true"
    users = ET.fromstring(new["directory/default/implus_webrtc.xml"].split("\n", 1)[1])
    ids = [u.get("id") for u in users.iter("user")]
    assert ids == ["implus-webrtc-customers", "4001"]
    assert "4001" not in files["directory/default/implus_agents.xml"]
    # The dialplan loads like the fake switch loads FreeSWITCH's, and takes the user id
    # only when the whole header matches the safe characters.
    dp = Dialplan().load(new["dialplan/implus_webrtc.xml"])
    (ext,) = dp.contexts["implus-webrtc"]
    first, user = ext.conditions
    assert first.expression == "^910$"
    assert user.field == "${sip_h_X-Implus-User}"
    assert re.search(user.expression, "u77") and not re.search(user.expression, "u77${x}")
    assert not re.search(user.expression, "u 77") and not re.search(user.expression, "")
    assert [a.application for a in user.actions] == ["set", "set", "transfer"]
    assert [a.application for a in user.anti_actions] == ["hangup"]
    assert user.actions[2].data == "910 XML implus-entry"


@pytest.mark.parametrize(
    ("where", "value", "message"),
    [
        (("pbxs", 0, "webrtc", "ws_host"), "127.0.0.1\n#exec /bin/sh", "ws_host"),
        (("pbxs", 0, "webrtc", "codecs"), ["ulaw;#include x"], "codecs"),
        (("pbxs", 0, "webrtc", "cert_file"), "/etc/${EVIL}", "cert_file"),
        (("pbxs", 0, "webrtc", "ice_servers"), ["turn:x;${y}"], "ice_servers"),
        (("agents", 0, "phone"), "pstn", "phone"),
        (("entry_points", 2, "media"), "video", "media"),
    ],
)
def test_bad_values_are_refused_with_their_path(
    write_config: Any, where: tuple[Any, ...], value: Any, message: str
) -> None:
    data = voip_config()
    node: Any = data
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = value
    result = validate_file(write_config(data))
    assert any(message in str(p) for p in result.errors), result.errors


def test_voip_needs_webrtc_and_a_literal_number(write_config: Any) -> None:
    data = voip_config()
    del data["pbxs"][0]["webrtc"]
    data["entry_points"][3]["extension"] = "_9XX"
    result = validate_file(write_config(data))
    text = "\n".join(str(p) for p in result.errors)
    assert "entry_points[2].media: a VoIP entry point needs PBX 'ast1' to have a webrtc" in text
    assert "agents[3].phone: a WebRTC softphone needs PBX 'ast1'" in text
    assert "entry_points[3].extension: a VoIP entry point needs a literal extension" in text
