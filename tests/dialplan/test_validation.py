"""Every kind of admin-config problem is reported with its YAML path (table-driven)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from dialplan_helpers import WriteConfig, base_config

from admin_config.errors import ConfigInvalid
from admin_config.model import AdminConfig, load_admin_config
from admin_config.validate import validate_file, validate_text

Mutate = Callable[[dict[str, Any]], None]


def _set(path: str, value: Any) -> Mutate:
    """`_set("entry_points.0.service", "x")` sets a nested key ('-' value deletes it)."""

    def mutate(c: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = c
        for p in parents:
            node = node[int(p)] if p.isdigit() else node[p]
        key: Any = int(last) if last.isdigit() else last
        if value == "-":
            del node[key]
        else:
            node[key] = value

    return mutate


def _append(section: str, item: dict[str, Any]) -> Mutate:
    return lambda c: c[section].append(item)


def _all(*mutations: Mutate) -> Mutate:
    def mutate(c: dict[str, Any]) -> None:
        for m in mutations:
            m(c)

    return mutate


DAVE = {"id": "dave", "pbx": "ast1", "password_env": "T_PW_1001"}

CASES: list[tuple[str, Mutate, str, str]] = [
    (
        "unknown service",
        _set("entry_points.0.service", "bookin"),
        "entry_points[0].service",
        "unknown service 'bookin' (known: billing, booking)",
    ),
    (
        "duplicate extension",
        _append(
            "entry_points", {"id": "again", "pbx": "ast1", "extension": "800", "service": "booking"}
        ),
        "entry_points[2].extension",
        "duplicate extension '800' on PBX 'ast1'",
    ),
    (
        "pattern overlaps literal",
        _append(
            "entry_points", {"id": "pat", "pbx": "ast1", "extension": "_8XX", "service": "booking"}
        ),
        "entry_points[2].extension",
        "is also matched by entry_points[0]",
    ),
    (
        "agent without endpoint",
        _set("agents.0.endpoint", "-"),
        "agents[0].endpoint",
        "has no SIP endpoint",
    ),
    (
        "agent home PBX unknown",
        _set("agents.0.pbx", "ast9"),
        "agents[0].pbx",
        "unknown PBX 'ast9' (known: ast1, fs1)",
    ),
    ("agent with phone but no PBX", _set("agents.0.pbx", "-"), "agents[0].pbx", "no home PBX"),
    (
        "entry point on unknown PBX",
        _set("entry_points.0.pbx", "nope"),
        "entry_points[0].pbx",
        "unknown PBX 'nope'",
    ),
    (
        "duplicate agent id",
        _set("agents.1.id", "alice"),
        "agents[1].id",
        "duplicate id 'alice' (also agents[0])",
    ),
    (
        "negative capacity",
        _set("agents.0.capacity", {"chat": -1}),
        "agents[0].capacity.chat",
        "greater than or equal to 0",
    ),
    (
        "negative skill level",
        _set("agents.0.skills", {"booking": -2}),
        "agents[0].skills.booking",
        "greater than or equal to 0",
    ),
    (
        "overflow target missing",
        _set("entry_points.1.overflow.entry_point", "nowhere"),
        "entry_points[1].overflow.entry_point",
        "unknown entry point 'nowhere'",
    ),
    (
        "overflow to itself",
        _set("entry_points.0.overflow", {"type": "entry_point", "entry_point": "booking_en"}),
        "entry_points[0].overflow.entry_point",
        "cannot overflow to itself",
    ),
    (
        "overflow loop",
        _set("entry_points.0.overflow", {"type": "entry_point", "entry_point": "billing_de"}),
        "entry_points[0].overflow.entry_point",
        "overflow loop booking_en -> billing_de -> booking_en",
    ),
    (
        "cross-PBX overflow needs a trunk",
        lambda c: c["trunks"].pop(2),
        "entry_points[1].overflow.entry_point",
        "add an inter_pbx trunk between fs1 and ast1",
    ),
    (
        "overflow to a pattern",
        _all(_set("entry_points.0.extension", "_80X")),
        "entry_points[1].overflow.entry_point",
        "needs a literal extension",
    ),
    (
        "voicemail without mailbox",
        _set("entry_points.0.overflow", {"type": "voicemail"}),
        "entry_points[0].overflow",
        "overflow type 'voicemail' needs mailbox",
    ),
    (
        "overflow field of another type",
        _set("entry_points.0.overflow", {"type": "hangup", "mailbox": "1"}),
        "entry_points[0].overflow",
        "does not use mailbox",
    ),
    (
        "unknown overflow type",
        _set("entry_points.0.overflow", "queue"),
        "entry_points[0].overflow.type",
        "'hangup', 'voicemail', 'extension' or 'entry_point'",
    ),
    (
        "service trunk unknown",
        _set("services.0.outbound_trunk", "nope"),
        "services[0].outbound_trunk",
        "unknown trunk 'nope' (known: carrier, fs_out, link)",
    ),
    (
        "service trunk is inter-PBX",
        _set("services.0.outbound_trunk", "link"),
        "services[0].outbound_trunk",
        "is an inter_pbx trunk",
    ),
    ("trunk on unknown PBX", _set("trunks.0.pbx", "ast2"), "trunks[0].pbx", "unknown PBX 'ast2'"),
    (
        "inter-PBX trunk to unknown PBX",
        _set("trunks.2.pbxs", ["ast1", "fs9"]),
        "trunks[2].pbxs[1]",
        "unknown PBX 'fs9'",
    ),
    (
        "inter-PBX trunk to itself",
        _set("trunks.2.pbxs", ["ast1", "ast1"]),
        "trunks[2].pbxs",
        "two different PBXs",
    ),
    (
        "inter-PBX trunk needs sip_host",
        _set("pbxs.1.sip_host", "-"),
        "pbxs[1].sip_host",
        "set sip_host",
    ),
    (
        "inter-PBX sip_host must be an address",
        _set("pbxs.1.sip_host", "fs.example"),
        "pbxs[1].sip_host",
        "IPv4 address",
    ),
    (
        "two default trunks",
        _all(
            _set("trunks.0.default", True),
            _append(
                "trunks", {"id": "second", "pbx": "ast1", "host": "192.0.2.11", "default": True}
            ),
        ),
        "trunks[3].default",
        "already has default trunk trunks[0]",
    ),
    (
        "register without credentials",
        _all(_set("trunks.0.register", True), _set("trunks.0.secret_env", "-")),
        "trunks[0].register",
        "registering needs username and secret_env",
    ),
    ("Asterisk trunk without host", _set("trunks.0.host", "-"), "trunks[0].host", "needs host"),
    (
        "gateway on an Asterisk trunk",
        _set("trunks.0.gateway", "gw"),
        "trunks[0].gateway",
        "FreeSWITCH trunks only",
    ),
    (
        "FreeSWITCH trunk with host and gateway",
        _set("trunks.1.host", "192.0.2.9"),
        "trunks[1].gateway",
        "not both",
    ),
    (
        "unknown PBX kind",
        _set("pbxs.1.kind", "freeswiitch"),
        "pbxs[1].kind",
        "unknown kind 'freeswiitch' (use asterisk, freeswitch)",
    ),
    ("unknown trunk kind", _set("trunks.2.kind", "peer"), "trunks[2].kind", "unknown kind 'peer'"),
    ("unknown top-level key", _set("agent", []), "agent", "unknown key 'agent'"),
    ("unknown item key", _set("entry_points.0.wait", 3), "entry_points[0].wait", "unknown key"),
    (
        "secret value instead of a variable name",
        _set("pbxs.0.secret_env", "hunter2!"),
        "pbxs[0].secret_env",
        "environment variable NAME",
    ),
    (
        "reserved entry id",
        _set("entry_points.0.id", "h"),
        "entry_points[0].id",
        "special Asterisk extension name",
    ),
    (
        "entry id with a dash",
        _set("entry_points.0.id", "booking-en"),
        "entry_points[0].id",
        "a letter, then letters, digits or '_'",
    ),
    (
        "extension with a space",
        _set("entry_points.0.extension", "80 0"),
        "entry_points[0].extension",
        "such as 800",
    ),
    (
        "bad Asterisk pattern",
        _set("entry_points.0.extension", "_8[X"),
        "entry_points[0].extension",
        "'[' without ']'",
    ),
    (
        "wildcard not last",
        _set("entry_points.0.extension", "_8.1"),
        "entry_points[0].extension",
        "must come last",
    ),
    (
        "Asterisk music class with a slash",
        _set("entry_points.0.music_class", "a/b"),
        "entry_points[0].music_class",
        "musiconhold class",
    ),
    (
        "FreeSWITCH music with a space",
        _set("entry_points.1.music_class", "local_stream://a b"),
        "entry_points[1].music_class",
        "playable source",
    ),
    (
        "max wait zero",
        _set("entry_points.0.max_wait", 0),
        "entry_points[0].max_wait",
        "greater than or equal to 1",
    ),
    (
        "bad language",
        _set("entry_points.0.language", "English"),
        "entry_points[0].language",
        "language code",
    ),
    (
        "FreeSWITCH agent without password",
        _set("agents.1.password_env", "-"),
        "agents[1].password_env",
        "needs a password",
    ),
    (
        "Asterisk phone without password or contact",
        _set("agents.0.password_env", "-"),
        "agents[0].password_env",
        "needs a SIP password",
    ),
    (
        "endpoint differing by a dash",
        _append("agents", {**DAVE, "endpoint": "10-01"}),
        "agents[3].endpoint",
        "only in '-' or case",
    ),
    (
        "duplicate endpoint",
        _append("agents", {**DAVE, "endpoint": "1001"}),
        "agents[3].endpoint",
        "already agents[0]'s",
    ),
    (
        "endpoint equal to an entry extension",
        _append("agents", {**DAVE, "endpoint": "800"}),
        "agents[3].endpoint",
        "also entry_points[0]'s extension '800'",
    ),
    (
        "reserved endpoint prefix",
        _append("agents", {**DAVE, "endpoint": "implus-x"}),
        "agents[3].endpoint",
        "reserved",
    ),
    (
        "FreeSWITCH pre-processor word in an id",
        _set("agents.1.id", "bob-X-Pre-Process"),
        "agents[1].id",
        "holds 'X-PRE-PROCESS', the FreeSWITCH configuration pre-processor's directive",
    ),
    (
        "FreeSWITCH pre-processor word in a host",
        _set("trunks.0.host", "x-pre-process.example.com"),
        "trunks[0].host",
        "cannot be part of a name or value",
    ),
    (
        "FreeSWITCH channel variable in hold music",
        _set("entry_points.1.music_class", "${hold_music}"),
        "entry_points[1].music_class",
        "never ${...}",
    ),
    (
        "FreeSWITCH channel variable in the domain",
        _set("pbxs.1.domain", "${domain}"),
        "pbxs[1].domain",
        "a FreeSWITCH global variable such as $${domain}",
    ),
    (
        "trunk qualify without seconds",
        _set("trunks.0.qualify", True),
        "trunks[0].qualify",
        "give the seconds between OPTIONS pings (e.g. 60), or 0 / off",
    ),
    (
        "trunk qualify out of range",
        _set("trunks.0.qualify", 7200),
        "trunks[0].qualify",
        "less than or equal to 3600",
    ),
    (
        "qualify on an existing FreeSWITCH gateway",
        _set("trunks.1.qualify", 60),
        "trunks[1].qualify",
        "set `ping` on gateway 'carrier' itself",
    ),
    (
        "announcement with a parent folder",
        _set("services.0.recording.announcement", "custom/../../etc/passwd"),
        "services[0].recording.announcement",
        "'..' is not allowed",
    ),
    (
        "announcement with dialplan syntax",
        _set("services.0.recording.announcement", "x,1)"),
        "services[0].recording.announcement",
        "a sound name",
    ),
    (
        "retention out of range",
        _set("services.0.recording.retention_days", 0),
        "services[0].recording.retention_days",
        "greater than or equal to 1",
    ),
    (
        "recordings_dir not absolute",
        _set("pbxs.0.recordings_dir", "monitor"),
        "pbxs[0].recordings_dir",
        "an absolute folder",
    ),
    (
        "recordings_dir with a parent",
        _set("pbxs.0.recordings_dir", "/var/../etc"),
        "pbxs[0].recordings_dir",
        "'..' is not allowed",
    ),
    (
        "supervisor on an unknown PBX",
        _set("supervisors.0.pbx", "ast9"),
        "supervisors[0].pbx",
        "unknown PBX 'ast9'",
    ),
    (
        "supervisor on an agent's phone",
        _set("supervisors.0.endpoint", "1001"),
        "supervisors[0].endpoint",
        "already agents[0]'s",
    ),
    (
        "supervisor phone without password or contact",
        _set("supervisors.0.contact", "-"),
        "supervisors[0].password_env",
        "needs a SIP password",
    ),
    ("section is not a list", _set("agents", {"alice": {}}), "agents", "must be a list"),
    ("item is not a mapping", _set("agents.0", "alice"), "agents[0]", "must be a mapping"),
    ("strategy missing", _set("strategy", "missing.yaml"), "strategy", "strategy file not found"),
    ("strategy key missing", _set("strategy", "-"), "strategy", "required"),
]


@pytest.mark.parametrize(
    ("mutate", "path", "fragment"),
    [pytest.param(m, p, f, id=name) for name, m, p, f in CASES],
)
def test_problem_is_reported_with_its_path(
    write_config: WriteConfig, mutate: Mutate, path: str, fragment: str
) -> None:
    config = base_config()
    mutate(config)
    result = validate_file(write_config(config))
    found = [p for p in result.errors if p.path == path]
    assert found, f"no error at {path}; got: {[str(p) for p in result.problems]}"
    assert any(fragment in p.message for p in found), [str(p) for p in found]
    assert result.config is None
    assert all(p.line is not None for p in result.errors), [p.format() for p in result.errors]


def test_base_config_is_valid(write_config: WriteConfig, secrets_env: dict[str, str]) -> None:
    result = validate_file(write_config())
    assert result.problems == []
    assert isinstance(result.config, AdminConfig)
    assert result.config.entry_point("booking_en").overflow.mailbox == "1000"


def test_same_extension_on_two_pbxs_is_fine(
    write_config: WriteConfig, secrets_env: dict[str, str]
) -> None:
    config = base_config()
    config["entry_points"][1]["extension"] = "800"
    assert validate_file(write_config(config)).problems == []


def test_every_problem_at_once(write_config: WriteConfig) -> None:
    config = base_config()
    config["entry_points"][0]["service"] = "bookin"
    config["entry_points"][1]["max_wait"] = -5  # invalid item: its refs are still checked
    config["entry_points"][1]["pbx"] = "fs2"
    config["agents"][0]["capacity"] = {"voice": -1}
    config["agents"][1]["pbx"] = "nowhere"
    config["trunks"][0]["pbx"] = "ast3"
    paths = {p.path for p in validate_file(write_config(config)).errors}
    assert paths >= {
        "entry_points[0].service",
        "entry_points[1].max_wait",
        "entry_points[1].pbx",
        "agents[0].capacity.voice",
        "agents[1].pbx",
        "trunks[0].pbx",
    }


def test_a_typo_in_a_service_does_not_cascade(write_config: WriteConfig) -> None:
    config = base_config()
    config["services"][0]["label"] = 12  # invalid item, but its id is known
    problems = validate_file(write_config(config)).errors
    assert [p.path for p in problems] == ["services[0].label"]


def test_load_admin_config_raises_with_file_and_line(write_config: WriteConfig) -> None:
    config = base_config()
    config["entry_points"][0]["service"] = "bookin"
    path = write_config(config)
    with pytest.raises(ConfigInvalid) as info:
        load_admin_config(path)
    line = path.read_text().splitlines().index("  service: bookin") + 1
    assert f"{path}:{line}: entry_points[0].service: unknown service 'bookin'" in str(info.value)


def test_missing_secret_variables_are_warnings_only(write_config: WriteConfig) -> None:
    result = validate_file(write_config())
    assert result.config is not None
    assert {p.path for p in result.warnings} == {
        "pbxs[0].secret_env",
        "pbxs[1].secret_env",
        "agents[0].password_env",
        "agents[1].password_env",
        "trunks[0].secret_env",
    }
    assert all("is not set in this environment" in p.message for p in result.warnings)


def test_strategy_must_be_a_mapping(write_config: WriteConfig, tmp_path: Path) -> None:
    path = write_config()
    (tmp_path / "strategy.yaml").write_text("- just\n- a list\n")
    assert [p.path for p in validate_file(path).errors] == ["strategy"]


def test_unreadable_file_is_one_problem(tmp_path: Path) -> None:
    result = validate_file(tmp_path / "nope.yaml")
    assert [str(p) for p in result.problems] == [
        f"(top level): cannot read {tmp_path / 'nope.yaml'}: No such file or directory"
    ]


def test_config_without_file_cannot_check_strategy() -> None:
    result = validate_text("strategy: s.yaml\n")
    assert [(p.path, p.severity) for p in result.problems] == [("strategy", "warning")]
