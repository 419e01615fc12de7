"""Rendering: reviewed golden files, well-formed output, the contract's names, determinism."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from dialplan_helpers import SECRETS, WriteConfig, base_config

from admin_config.errors import BadSecret, MissingSecret
from admin_config.model import AdminConfig, load_admin_config
from admin_config.secrets import Secrets
from dialplan.errors import RenderError
from dialplan.rendering import RenderedFile, is_generated, render, select_pbx

GOLDEN = Path(__file__).parent / "golden"
REGEN = os.environ.get("IMPLUS_REGEN_GOLDEN") == "1"


def _config(write_config: WriteConfig, config: dict | None = None) -> AdminConfig:
    return load_admin_config(write_config(config or base_config()))


def _render(config: AdminConfig, pbx: str, env: dict[str, str] | None = None) -> list[RenderedFile]:
    return render(config, select_pbx(config, pbx), Secrets(env or SECRETS))


@pytest.mark.parametrize("pbx", ["ast1", "fs1"])
def test_golden_files(write_config: WriteConfig, pbx: str) -> None:
    """The generated files, reviewed once and kept in tests/dialplan/golden/.

    After an intended change: IMPLUS_REGEN_GOLDEN=1 pytest tests/dialplan, then review
    the diff of the golden folder like any other change.
    """
    files = _render(_config(write_config), pbx)
    folder = GOLDEN / pbx
    if REGEN:
        for f in files:
            (folder / f.path).parent.mkdir(parents=True, exist_ok=True)
            (folder / f.path).write_text(f.content, encoding="utf-8")
    expected = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    assert sorted(f.path for f in files) == expected
    for f in files:
        assert f.content == (folder / f.path).read_text(encoding="utf-8"), f.path


def test_asterisk_files_and_modes(write_config: WriteConfig) -> None:
    files = {f.path: f for f in _render(_config(write_config), "asterisk")}
    assert set(files) == {"extensions_implus.conf", "pjsip_implus.conf", "manager_implus.conf"}
    assert files["extensions_implus.conf"].mode == 0o644
    assert files["pjsip_implus.conf"].mode == 0o600
    assert files["manager_implus.conf"].mode == 0o600
    assert all(is_generated(f.content) for f in files.values())


def test_asterisk_contexts_and_contract(write_config: WriteConfig) -> None:
    ext = _render(_config(write_config), "ast1")[0].content
    contexts = ("entry", "overflow", "connect", "outbound", "inter-pbx")
    for ctx in (f"implus-{c}" for c in contexts):
        assert f"\n[{ctx}]\n" in ext
    assert (
        "UserEvent(ImplusEntry,Service: booking,Entry: booking_en,User: ${IMPLUS_USER},"
        "Language: en,MaxWait: 60)" in ext
    )
    assert "MusicOnHold(default,75)" in ext  # max_wait 60 + hold_margin 15
    assert "exten => booking_en,1,Set(IMPLUS_OVERFLOWED=1)" in ext
    assert "VoiceMail(1000,u)" in ext
    assert "exten => s,1,GotoIf($[${LEN(${IMPLUS_AGENT_DIAL})} = 0]?back)" in ext
    assert " same => n,Dial(${IMPLUS_AGENT_DIAL},${IMPLUS_RING},m)\n" in ext
    assert " same => n,Goto(implus-entry,${IMPLUS_EXTEN},hold)\n" in ext
    assert " same => n(hold),MusicOnHold(default,75)\n" in ext
    assert "Dial(PJSIP/0${IMPLUS_DIAL}@implus-trunk-carrier,60)" in ext
    assert "exten => s,1,Goto(implus-outbound,carrier,1)" in ext


def test_manager_file(write_config: WriteConfig) -> None:
    manager = _render(_config(write_config), "ast1")[2].content
    assert "[implus]\nsecret=ami-secret\n" in manager
    assert "read=system,call,agent,user,dialplan\n" in manager
    assert "write=system,call,agent,user,originate,reporting\n" in manager
    assert "writetimeout=5000\n" in manager


def test_freeswitch_xml_is_well_formed(write_config: WriteConfig) -> None:
    files = _render(_config(write_config), "freeswitch")
    assert [f.path for f in files] == [
        "dialplan/implus.xml",
        "dialplan/public/00_implus.xml",
        "directory/default/implus_agents.xml",
        "sip_profiles/external/implus_gateways.xml",
    ]
    for f in files:
        root = ET.fromstring(f.content)
        assert root.tag == "include"
        assert is_generated(f.content)
    dialplan = ET.fromstring(files[0].content)
    contexts = [c.get("name") for c in dialplan.findall("context")]
    assert contexts == ["implus-entry", "implus-overflow", "implus-outbound", "implus-inter-pbx"]
    entry = dialplan.find("context[@name='implus-entry']/extension[@name='billing_de']")
    assert entry is not None
    actions = [(a.get("application"), a.get("data")) for a in entry.iter("action")]
    assert actions[0] == ("set", "implus_user=${caller_id_number}")
    assert ("set", "implus_service=billing") in actions
    assert actions[-4:] == [
        ("answer", None),
        ("playback", "ivr/ivr-this_call_may_be_recorded.wav"),  # the service records calls
        ("sched_transfer", "+315 billing_de XML implus-overflow"),  # 300 + hold_margin 15
        ("park", None),
    ]
    users = ET.fromstring(files[2].content)
    user = users.find("user[@id='2001']")
    assert user is not None
    assert user.find("params/param[@name='password']").get("value") == "pw-2001"  # type: ignore[union-attr]


def test_cross_pbx_overflow_dials_over_the_trunk(write_config: WriteConfig) -> None:
    dialplan = ET.fromstring(_render(_config(write_config), "fs1")[0].content)
    overflow = dialplan.find("context[@name='implus-overflow']/extension[@name='billing_de']")
    assert overflow is not None
    apps = [(a.get("application"), a.get("data")) for a in overflow.iter("action")]
    assert ("bridge", "sofia/gateway/implus-trunk-link/800") in apps
    assert apps[0] == ("sched_cancel", None)


def test_patterns_become_regexes_on_freeswitch(write_config: WriteConfig) -> None:
    config = base_config()
    config["entry_points"][1]["extension"] = "_9[1-3]X."
    config["entry_points"][1]["overflow"] = "hangup"
    dialplan = ET.fromstring(_render(_config(write_config, config), "fs1")[0].content)
    cond = dialplan.find("context[@name='implus-entry']/extension/condition")
    assert cond is not None
    assert cond.get("expression") == "^9[1-3][0-9].+$"


def test_missing_secrets_are_all_named(write_config: WriteConfig) -> None:
    config = _config(write_config)
    with pytest.raises(MissingSecret) as info:
        _render(config, "ast1", env={"T_AMI": "s3cret-value"})
    assert info.value.names == ["T_CARRIER", "T_PW_1001"]
    assert "s3cret-value" not in str(info.value)


@pytest.mark.parametrize("secret", ["line\nbreak", " padded", "tab\there"])
def test_unsafe_secret_values_are_refused(write_config: WriteConfig, secret: str) -> None:
    with pytest.raises(BadSecret) as info:
        _render(_config(write_config), "ast1", env={**SECRETS, "T_PW_1001": secret})
    assert secret not in str(info.value)


def test_freeswitch_refuses_a_secret_it_would_expand(write_config: WriteConfig) -> None:
    with pytest.raises(BadSecret):
        _render(_config(write_config), "fs1", env={**SECRETS, "T_PW_2001": "a$${domain}"})


def test_semicolon_in_a_secret_is_escaped(write_config: WriteConfig) -> None:
    files = _render(_config(write_config), "ast1", env={**SECRETS, "T_PW_1001": "a;b"})
    assert "password=a\\;b\n" in files[1].content


def test_freeswitch_voicemail_overflow_uses_the_default_domain(write_config: WriteConfig) -> None:
    """`$${domain}` (the default) is a global variable, not an unsafe token."""
    config = base_config()
    config["entry_points"][1]["overflow"] = {"type": "voicemail", "mailbox": "1000"}
    dialplan = ET.fromstring(_render(_config(write_config, config), "fs1")[0].content)
    apps = [(a.get("application"), a.get("data")) for a in dialplan.iter("action")]
    assert ("voicemail", "default $${domain} 1000") in apps


def test_semicolons_in_pjsip_values_are_escaped(write_config: WriteConfig) -> None:
    """An unescaped ';' starts a comment: `;transport=tcp` would be silently dropped."""
    config = base_config()
    config["agents"][0]["contact"] = "sip:1001@10.0.0.5:5060;transport=tcp"
    config["trunks"][0]["transport"] = "tcp"
    pjsip = _render(_config(write_config, config), "ast1")[1].content
    assert "contact=sip:1001@10.0.0.5:5060\\;transport=tcp\n" in pjsip
    assert "contact=sip:192.0.2.10:5060\\;transport=tcp\n" in pjsip


@pytest.mark.parametrize(("qualify", "seconds"), [(None, 0), (60, 60), (0, 0), (False, 0)])
def test_trunk_qualify_is_the_trunks_own(
    write_config: WriteConfig, qualify: object, seconds: int
) -> None:
    """`qualify:` seconds per trunk (0 / off: never, the default). Asterisk applies an aor's
    fields in file order and gives a `contact=` the qualify_frequency known at that point
    (verified on the sandbox: contact first = never qualified), so it comes first."""
    config = base_config()
    config["trunks"][1] = {"id": "fs_out", "pbx": "fs1", "host": "192.0.2.20"}
    for trunk in config["trunks"][:2]:
        if qualify is not None:
            trunk["qualify"] = qualify
    loaded = _config(write_config, config)
    pjsip = _render(loaded, "ast1")[1].content
    assert (
        f"[implus-trunk-carrier]\ntype=aor\nqualify_frequency={seconds}\n"
        "contact=sip:192.0.2.10:5060\n"
    ) in pjsip
    gateways = ET.fromstring(_render(loaded, "fs1")[3].content)
    gateway = gateways.find("gateway[@name='implus-trunk-fs_out']")
    assert gateway is not None
    ping = gateway.find("param[@name='ping']")
    if seconds:
        assert ping is not None and ping.get("value") == str(seconds)
    else:
        assert ping is None  # no ping: sofia keeps a register=false gateway up


def test_inter_pbx_trunk_is_not_qualified(write_config: WriteConfig) -> None:
    """Its qualify_frequency=30 used to follow `contact=`, so it never took effect; made
    effective, a ping the other PBX misses would refuse calls (tests/asterisk/test_two_pbx)."""
    pjsip = _render(_config(write_config), "ast1")[1].content
    assert (
        "[implus-trunk-link]\ntype=aor\nqualify_frequency=0\ncontact=sip:127.0.0.3:5080\n"
    ) in pjsip


def test_guard_refuses_a_line_its_pbx_would_act_on() -> None:
    from dialplan import guard

    guard.check("a.xml", "<include>\n  <x a='1' />\n</include>\n", "freeswitch")
    for line in ('<!-- <x-pre-process cmd="exec" data="id"/> -->', "<a b='X-PRE-PROCESS'/>"):
        with pytest.raises(RenderError, match="X-PRE-PROCESS directive"):
            guard.check("a.xml", f"<include>\n{line}\n</include>\n", "freeswitch")
    with pytest.raises(RenderError, match="'<!--#'"):
        guard.check("a.xml", '<!--#exec "id"-->\n', "freeswitch")
    with pytest.raises(RenderError, match="line 2 holds a directive"):
        guard.check("x.conf", "[a]\n #exec id\n", "asterisk")


def test_select_pbx(write_config: WriteConfig) -> None:
    config = _config(write_config)
    assert select_pbx(config, "asterisk").id == "ast1"
    assert select_pbx(config, "fs1").id == "fs1"
    with pytest.raises(RenderError, match="unknown PBX 'x'"):
        select_pbx(config, "x")
    two = base_config()
    two["pbxs"].append({"id": "ast2", "kind": "asterisk", "secret_env": "T_AMI"})
    with pytest.raises(RenderError, match=r"several asterisk PBXs \(ast1, ast2\)"):
        select_pbx(_config(write_config, two), "asterisk")


def test_rendering_twice_is_byte_identical(write_config: WriteConfig) -> None:
    config = _config(write_config)
    for pbx in ("ast1", "fs1"):
        assert _render(config, pbx) == _render(config, pbx)


def test_rendering_does_not_depend_on_hash_seed(write_config: WriteConfig) -> None:
    """Set and dict order must not leak into the files: render in two fresh processes."""
    path = write_config()
    script = (
        "import sys, json\n"
        "from admin_config.model import load_admin_config\n"
        "from dialplan.rendering import render, select_pbx\n"
        "from admin_config.secrets import Secrets\n"
        "c = load_admin_config(sys.argv[1])\n"
        f"env = {SECRETS!r}\n"
        "out = {p: [f.content for f in render(c, select_pbx(c, p), Secrets(env))]\n"
        "       for p in ('ast1', 'fs1')}\n"
        "print(json.dumps(out))\n"
    )
    outputs = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        run = subprocess.run(
            [sys.executable, "-c", script, str(path)], capture_output=True, text=True, env=env
        )
        assert run.returncode == 0, run.stderr
        outputs.add(run.stdout)
    assert len(outputs) == 1
