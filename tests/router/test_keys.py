"""router/keys.py is the one source of key names: its Python methods, the Lua key functions
and the KEYS each script declares all come from TEMPLATES, and the Lua sources have no
other way to name a key."""

from __future__ import annotations

import inspect
import re
from importlib.resources import files
from pathlib import Path

import pytest

from router import scripts
from router.keys import TEMPLATES, Keys, parts_of
from router.scripts import KeyRef, ScriptHeaderError, parse_keys

LUA = files("router") / "lua"


def _lua_files() -> dict[str, str]:
    return {p.name: p.read_text() for p in LUA.iterdir() if p.name.endswith(".lua")}


def test_every_template_has_its_method_and_nothing_else_builds_keys():
    keys = Keys("d1")
    methods = {
        name
        for name, member in inspect.getmembers(Keys, inspect.isfunction)
        if not name.startswith("_") and name != "build"
    }
    assert methods == set(TEMPLATES)
    for name, template in TEMPLATES.items():
        parts = [f"v{i}" for i in range(len(parts_of(template.pattern)))]
        expected = "implus:{d1}:" + template.pattern.format(
            **dict(zip(parts_of(template.pattern), parts, strict=True))
        )
        assert getattr(keys, name)(*parts) == expected


def test_queue_lines_are_per_channel_in_python_and_lua():
    assert Keys().queue("general", "chat") == "implus:{default}:queue:general:chat"
    assert (
        scripts.lua_key("queue", ["q", "r.channel"])
        == "(P .. 'queue:' .. (q) .. ':' .. (r.channel))"
    )


def test_key_calls_in_lua_expand_from_the_templates_on_the_same_line():
    code = (
        "local a = K.agent_offers(o.agent)\n"
        "redis.call('ZREM', K.queue(f(x, ')'), 'a,b'), K.timers())\n"
        "local s = K.session_open(\n  s[2], s[3])\n"
    )
    out = scripts.expand_keys(code)
    assert out == (
        "local a = (P .. 'agent:' .. (o.agent) .. ':offers')\n"
        "redis.call('ZREM', (P .. 'queue:' .. (f(x, ')')) .. ':' .. ('a,b')), (P .. 'timers'))\n"
        "local s = (P .. 'session-open:' .. (\n  s[2]) .. ':' .. (s[3]))\n"
    )
    assert out.count("\n") == code.count("\n")  # Redis's error line numbers still point home
    for bad, problem in [
        ("K.nothing(x)", "no key template 'nothing'"),
        ("K.queue(q)", "K.queue takes 2 parts, got 1"),
        ("K.agent(x", "no closing parenthesis"),
    ]:
        with pytest.raises(ScriptHeaderError, match=re.escape(problem)):
            scripts.expand_keys(bad)


def test_every_script_runs_with_its_keys_expanded():
    for name in scripts.NAMES:
        source = scripts.source(name)
        assert not re.search(r"\bK\.[a-z_]+\(", source), name
        assert source.startswith("local P = ARGV[1]")


def test_lua_names_keys_only_through_keys_and_the_templates():
    """No script builds a key by hand: the prefix (P, ARGV[1]) appears only in what
    scripts.py generates from K.* calls, no KEYS[n] is extended, and every K.* exists."""
    for name, text in _lua_files().items():
        code = "\n".join(line.split("--", 1)[0] for line in text.splitlines())
        assert not re.search(r"\bP\b", code), f"{name} uses the key prefix P directly"
        assert "ARGV[1]" not in code, f"{name} reads the key prefix ARGV[1] directly"
        assert not re.search(r"KEYS\[\d+\]\s*\.\.", code), f"{name} extends a KEYS name"
        assert not re.search(r"'implus:|\"implus:", code), f"{name} spells a key"
        used = set(re.findall(r"\bK\.([a-z_]+)\(", code))
        assert used <= set(TEMPLATES), f"{name} uses unknown key functions {used - set(TEMPLATES)}"


def test_every_script_file_is_a_script_with_its_keys_and_argv_documented():
    on_disk = {n.removesuffix(".lua") for n in _lua_files()} - {"prelude"}
    assert on_disk == set(scripts.NAMES)
    for name in scripts.NAMES:
        refs = scripts.declared_keys(name)
        assert refs, f"{name} declares no KEYS"
        argv = scripts.body(name).split("-- ARGV:", 1)[1].split("-- Returns", 1)[0]
        argv = " ".join(line.removeprefix("--") for line in argv.splitlines())
        documented = {int(n) for n in re.findall(r"(?:^|,)\s+(\d+)\b", argv)}
        used = {p for ref in refs for p in ref.parts if isinstance(p, int)}
        assert used <= documented, (name, used, documented)
        code = "\n".join(
            line for line in scripts.body(name).splitlines() if not line.startswith("--")
        )
        indexed = {int(n) for n in re.findall(r"KEYS\[(\d+)\]", code)}
        mandatory = [r for r in refs if not r.optional]
        assert indexed <= set(range(1, len(mandatory) + 1)), f"{name} indexes an optional key"


def test_keys_for_builds_the_declared_keys_and_leaves_out_missing_optional_ids():
    keys = Keys()
    args = ["off1", "", 60_000]
    assert scripts.keys_for("accept", keys, args) == [
        keys.offer("off1"),
        keys.timers(),
        keys.sessions_activity(),
        keys.events(),
        keys.agent_feed(),
    ]
    assert scripts.keys_for("accept", keys, ["off1", "alice", 60_000])[5:] == [
        keys.agent("alice"),
        keys.agent_offers("alice"),
        keys.agent_contacts("alice"),
    ]
    assert scripts.keys_for("remove_agent", keys, ["bob"])[4:6] == [
        keys.leases("desktop"),
        keys.leases("sip"),
    ]


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        ("-- KEYS: 1 request(ARGV[3]), 3 timers", "expected '2 template(parts)'"),
        ("-- KEYS: 1 nothing(ARGV[3])", "no key template 'nothing'"),
        ("-- KEYS: 1 queue(ARGV[3])", "queue takes 2 parts"),
        ("-- KEYS: 1 request(ARGV[1])", "ARGV[1] is the prefix or now"),
        ("-- KEYS: 1 request(name)", "a key part is ARGV[n] or a 'literal'"),
        ("-- KEYS: 1 agent(ARGV[4]?), 2 timers", "optional keys (ARGV[n]?) must come last"),
        ("-- ARGV: 3 request id", "no '-- KEYS:' line"),
    ],
)
def test_a_bad_keys_header_is_refused_with_the_place_to_fix(header, problem):
    with pytest.raises(ScriptHeaderError, match=re.escape(problem)):
        parse_keys("demo", header + "\n-- ARGV: 3 request id\nreturn 1\n")


def test_a_keys_header_reads_across_lines_and_remarks():
    refs = parse_keys(
        "demo",
        "-- KEYS: 1 session_open(ARGV[4], ARGV[3]),\n-- 2 leases('sip'), 3 events,\n"
        "-- (a remark)\n-- 4 agent(ARGV[5]?)\n-- ARGV: 3 service, 4 user, 5 agent\n",
    )
    assert refs == (
        KeyRef("session_open", (4, 3)),
        KeyRef("leases", ("sip",)),
        KeyRef("events", ()),
        KeyRef("agent", (5,), optional=True),
    )
    assert [str(r) for r in refs] == [
        "session_open(ARGV[4], ARGV[3])",
        "leases('sip')",
        "events",
        "agent(ARGV[5]?)",
    ]


def test_per_item_keys_follow_the_fixed_ones_for_every_item_of_the_call():
    keys = Keys()
    item = ["r1", "a1", "o1", 5, "[]", 0, "rule", 0, ""]
    other = ["r2", "a2", "o2", 5, "[]", 0, "rule", 0, ""]
    got = scripts.keys_for("reserve_batch", keys, [7, 60, *item, *other])
    assert got[:3] == [keys.timers(), keys.events(), keys.agent_feed()]
    assert got[3:9] == [
        keys.request("r1"),
        keys.agent("a1"),
        keys.offer("o1"),
        keys.agent_offers("a1"),
        keys.pinned("a1"),
        keys.trace("r1"),
    ]
    assert got[9] == keys.request("r2") and len(got) == 15
    assert scripts.keys_for("reserve_batch", keys, [7, 60]) == got[:3]
    assert scripts.repeated_keys("accept") is None


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("-- KEYS per item: request(+0)", "expected '-- KEYS per <item>, N ARGV each"),
        ("-- KEYS per item, 2 ARGV each from ARGV[2]: request(+0)", "start at ARGV[3]"),
        ("-- KEYS per item, 2 ARGV each from ARGV[4]: request(+2)", "beyond an item's 2"),
        ("-- KEYS per item, 2 ARGV each from ARGV[4]: request(ARGV[4])", "+k or a 'literal'"),
        ("-- KEYS per item, 2 ARGV each from ARGV[4]: queue(+0)", "queue takes 2 parts"),
        ("-- KEYS per item, 2 ARGV each from ARGV[4]:", "no keys"),
    ],
)
def test_a_bad_per_item_keys_header_is_refused(line, problem):
    with pytest.raises(ScriptHeaderError, match=re.escape(problem)):
        scripts.parse_repeated("demo", f"-- KEYS: 1 timers\n{line}\n-- ARGV: 3 n\nreturn 1\n")


def test_the_key_table_in_the_docs_is_the_one_in_keys_py():
    doc = (Path(__file__).resolve().parents[2] / "docs" / "router-api.md").read_text()
    for name, template in TEMPLATES.items():
        assert f"| `{name}` | `{template.pattern}` | {template.type} |" in doc, name
