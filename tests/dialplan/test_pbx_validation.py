"""PBX, trunk and service problems in the admin config, each reported with its YAML path
(table-driven): PBX and trunk kinds, inter-PBX links, default and registering trunks,
qualify, secrets, FreeSWITCH pre-processor words and variables, recordings."""

from __future__ import annotations

from config_problems import Case, all_of, append_item, check_problem, set_key
from dialplan_helpers import WriteConfig

CASES: list[Case] = [
    (
        "service trunk unknown",
        set_key("services.0.outbound_trunk", "nope"),
        "services[0].outbound_trunk",
        "unknown trunk 'nope' (known: carrier, fs_out, link)",
    ),
    (
        "service trunk is inter-PBX",
        set_key("services.0.outbound_trunk", "link"),
        "services[0].outbound_trunk",
        "is an inter_pbx trunk",
    ),
    (
        "trunk on unknown PBX",
        set_key("trunks.0.pbx", "ast2"),
        "trunks[0].pbx",
        "unknown PBX 'ast2'",
    ),
    (
        "inter-PBX trunk to unknown PBX",
        set_key("trunks.2.pbxs", ["ast1", "fs9"]),
        "trunks[2].pbxs[1]",
        "unknown PBX 'fs9'",
    ),
    (
        "inter-PBX trunk to itself",
        set_key("trunks.2.pbxs", ["ast1", "ast1"]),
        "trunks[2].pbxs",
        "two different PBXs",
    ),
    (
        "inter-PBX trunk needs sip_host",
        set_key("pbxs.1.sip_host", "-"),
        "pbxs[1].sip_host",
        "set sip_host",
    ),
    (
        "inter-PBX sip_host must be an address",
        set_key("pbxs.1.sip_host", "fs.example"),
        "pbxs[1].sip_host",
        "IPv4 address",
    ),
    (
        "two default trunks",
        all_of(
            set_key("trunks.0.default", True),
            append_item(
                "trunks", {"id": "second", "pbx": "ast1", "host": "192.0.2.11", "default": True}
            ),
        ),
        "trunks[3].default",
        "already has default trunk trunks[0]",
    ),
    (
        "register without credentials",
        all_of(set_key("trunks.0.register", True), set_key("trunks.0.secret_env", "-")),
        "trunks[0].register",
        "registering needs username and secret_env",
    ),
    ("Asterisk trunk without host", set_key("trunks.0.host", "-"), "trunks[0].host", "needs host"),
    (
        "gateway on an Asterisk trunk",
        set_key("trunks.0.gateway", "gw"),
        "trunks[0].gateway",
        "FreeSWITCH trunks only",
    ),
    (
        "FreeSWITCH trunk with host and gateway",
        set_key("trunks.1.host", "192.0.2.9"),
        "trunks[1].gateway",
        "not both",
    ),
    (
        "unknown PBX kind",
        set_key("pbxs.1.kind", "freeswiitch"),
        "pbxs[1].kind",
        "unknown kind 'freeswiitch' (use asterisk, freeswitch)",
    ),
    (
        "unknown trunk kind",
        set_key("trunks.2.kind", "peer"),
        "trunks[2].kind",
        "unknown kind 'peer'",
    ),
    (
        "secret value instead of a variable name",
        set_key("pbxs.0.secret_env", "hunter2!"),
        "pbxs[0].secret_env",
        "environment variable NAME",
    ),
    (
        "FreeSWITCH pre-processor word in a host",
        set_key("trunks.0.host", "x-pre-process.example.com"),
        "trunks[0].host",
        "cannot be part of a name or value",
    ),
    (
        "FreeSWITCH channel variable in the domain",
        set_key("pbxs.1.domain", "${domain}"),
        "pbxs[1].domain",
        "a FreeSWITCH global variable such as $${domain}",
    ),
    (
        "trunk qualify without seconds",
        set_key("trunks.0.qualify", True),
        "trunks[0].qualify",
        "give the seconds between OPTIONS pings (e.g. 60), or 0 / off",
    ),
    (
        "trunk qualify out of range",
        set_key("trunks.0.qualify", 7200),
        "trunks[0].qualify",
        "less than or equal to 3600",
    ),
    (
        "qualify on an existing FreeSWITCH gateway",
        set_key("trunks.1.qualify", 60),
        "trunks[1].qualify",
        "set `ping` on gateway 'carrier' itself",
    ),
    (
        "announcement with a parent folder",
        set_key("services.0.recording.announcement", "custom/../../etc/passwd"),
        "services[0].recording.announcement",
        "'..' is not allowed",
    ),
    (
        "announcement with dialplan syntax",
        set_key("services.0.recording.announcement", "x,1)"),
        "services[0].recording.announcement",
        "a sound name",
    ),
    (
        "retention out of range",
        set_key("services.0.recording.retention_days", 0),
        "services[0].recording.retention_days",
        "greater than or equal to 1",
    ),
    (
        "recordings_dir not absolute",
        set_key("pbxs.0.recordings_dir", "monitor"),
        "pbxs[0].recordings_dir",
        "an absolute folder",
    ),
    (
        "recordings_dir with a parent",
        set_key("pbxs.0.recordings_dir", "/var/../etc"),
        "pbxs[0].recordings_dir",
        "'..' is not allowed",
    ),
]


def test_problem_is_reported_with_its_path(write_config: WriteConfig, problem: Case) -> None:
    check_problem(write_config, problem)
