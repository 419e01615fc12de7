"""Entry-point problems in the admin config, each reported with its YAML path (table-driven):
services, extensions and Asterisk patterns, ids, overflow targets and loops, hold music,
max wait and language."""

from __future__ import annotations

from config_problems import Case, all_of, append_item, check_problem, set_key
from dialplan_helpers import WriteConfig

CASES: list[Case] = [
    (
        "unknown service",
        set_key("entry_points.0.service", "bookin"),
        "entry_points[0].service",
        "unknown service 'bookin' (known: billing, booking)",
    ),
    (
        "duplicate extension",
        append_item(
            "entry_points", {"id": "again", "pbx": "ast1", "extension": "800", "service": "booking"}
        ),
        "entry_points[2].extension",
        "duplicate extension '800' on PBX 'ast1'",
    ),
    (
        "pattern overlaps literal",
        append_item(
            "entry_points", {"id": "pat", "pbx": "ast1", "extension": "_8XX", "service": "booking"}
        ),
        "entry_points[2].extension",
        "is also matched by entry_points[0]",
    ),
    (
        "entry point on unknown PBX",
        set_key("entry_points.0.pbx", "nope"),
        "entry_points[0].pbx",
        "unknown PBX 'nope'",
    ),
    (
        "overflow target missing",
        set_key("entry_points.1.overflow.entry_point", "nowhere"),
        "entry_points[1].overflow.entry_point",
        "unknown entry point 'nowhere'",
    ),
    (
        "overflow to itself",
        set_key("entry_points.0.overflow", {"type": "entry_point", "entry_point": "booking_en"}),
        "entry_points[0].overflow.entry_point",
        "cannot overflow to itself",
    ),
    (
        "overflow loop",
        set_key("entry_points.0.overflow", {"type": "entry_point", "entry_point": "billing_de"}),
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
        all_of(set_key("entry_points.0.extension", "_80X")),
        "entry_points[1].overflow.entry_point",
        "needs a literal extension",
    ),
    (
        "voicemail without mailbox",
        set_key("entry_points.0.overflow", {"type": "voicemail"}),
        "entry_points[0].overflow",
        "overflow type 'voicemail' needs mailbox",
    ),
    (
        "overflow field of another type",
        set_key("entry_points.0.overflow", {"type": "hangup", "mailbox": "1"}),
        "entry_points[0].overflow",
        "does not use mailbox",
    ),
    (
        "unknown overflow type",
        set_key("entry_points.0.overflow", "queue"),
        "entry_points[0].overflow.type",
        "'hangup', 'voicemail', 'extension' or 'entry_point'",
    ),
    ("unknown item key", set_key("entry_points.0.wait", 3), "entry_points[0].wait", "unknown key"),
    (
        "reserved entry id",
        set_key("entry_points.0.id", "h"),
        "entry_points[0].id",
        "special Asterisk extension name",
    ),
    (
        "entry id with a dash",
        set_key("entry_points.0.id", "booking-en"),
        "entry_points[0].id",
        "a letter, then letters, digits or '_'",
    ),
    (
        "extension with a space",
        set_key("entry_points.0.extension", "80 0"),
        "entry_points[0].extension",
        "such as 800",
    ),
    (
        "bad Asterisk pattern",
        set_key("entry_points.0.extension", "_8[X"),
        "entry_points[0].extension",
        "'[' without ']'",
    ),
    (
        "wildcard not last",
        set_key("entry_points.0.extension", "_8.1"),
        "entry_points[0].extension",
        "must come last",
    ),
    (
        "Asterisk music class with a slash",
        set_key("entry_points.0.music_class", "a/b"),
        "entry_points[0].music_class",
        "musiconhold class",
    ),
    (
        "FreeSWITCH music with a space",
        set_key("entry_points.1.music_class", "local_stream://a b"),
        "entry_points[1].music_class",
        "playable source",
    ),
    (
        "max wait zero",
        set_key("entry_points.0.max_wait", 0),
        "entry_points[0].max_wait",
        "greater than or equal to 1",
    ),
    (
        "bad language",
        set_key("entry_points.0.language", "English"),
        "entry_points[0].language",
        "language code",
    ),
    (
        "FreeSWITCH channel variable in hold music",
        set_key("entry_points.1.music_class", "${hold_music}"),
        "entry_points[1].music_class",
        "never ${...}",
    ),
]


def test_problem_is_reported_with_its_path(write_config: WriteConfig, problem: Case) -> None:
    check_problem(write_config, problem)
