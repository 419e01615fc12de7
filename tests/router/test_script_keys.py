"""Every key a Lua script touches is declared in its KEYS or built from router/keys.py.

The scripted day (router_harness.scripted_day) runs every script while MONITOR records
what Redis executes. For each script call, Redis itself says which arguments of each
command the script ran are keys (COMMAND GETKEYS); each key must match a template of
router/keys.py, sit in the slot of the call's KEYS, and - if it can be named before the
script runs (a template without parts, or parts that are all arguments of the call) - be
one of the KEYS the call declared.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field

import redis
from redis.crc import key_slot
from router_harness import scripted_day

from router import scripts
from router.keys import TEMPLATES, Keys, parts_of

MARK = "monitor-end-7f3a"
_LINE = re.compile(r"^\S+ \[\d+ ([^\]]+)\] (.*)$")
_TOKEN = re.compile(r'"((?:[^"\\]|\\.)*)"')
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "a": "\a", "b": "\b", '"': '"', "\\": "\\"}


def _unrepr(text: str) -> str:
    """Undo Redis's sdscatrepr quoting of one MONITOR argument."""
    out, i = [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and text[i + 1] == "x":
            out.append(chr(int(text[i + 2 : i + 4], 16)))
            i += 4
        elif ch == "\\":
            out.append(_ESCAPES[text[i + 1]])
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


class Monitor:
    """What the redis-server executes, as MONITOR lines, until :meth:`stop`."""

    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url, decode_responses=True)
        self.conn = self.client.connection_pool.get_connection()
        self.conn.send_command("MONITOR")
        assert self.conn.read_response() == "OK"
        self.lines: list[str] = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        while True:
            line = self.conn.read_response()
            self.lines.append(line)
            if MARK in line:
                return

    def stop(self) -> list[str]:
        self.client.echo(MARK)
        self.thread.join(30)
        assert not self.thread.is_alive(), "MONITOR did not see the end mark"
        self.conn.disconnect()
        self.client.close()
        return self.lines


@dataclass
class Call:
    """One script call and the commands the script ran."""

    script: str
    keys: list[str]
    argv: list[str]
    commands: list[list[str]] = field(default_factory=list)


def script_calls(lines: list[str], names: dict[str, str]) -> list[Call]:
    """The EVAL/EVALSHA calls among MONITOR ``lines`` (Redis prints a script's own commands,
    marked ``lua``, right after its call); ``names`` maps a script's sha to its name."""
    calls: list[Call] = []
    current: Call | None = None
    for line in lines:
        m = _LINE.match(line)
        if m is None:
            continue
        args = [_unrepr(t) for t in _TOKEN.findall(m.group(2))]
        if m.group(1) == "lua":
            assert current is not None, line
            current.commands.append(args)
        elif args[0].upper() in ("EVAL", "EVALSHA"):
            n = int(args[2])
            name = names.get(args[1], "eval") if args[0].upper() == "EVALSHA" else "eval"
            current = Call(name, args[3 : 3 + n], args[3 + n :])
            calls.append(current)
        else:
            current = None
    return calls


def _matchers(keys: Keys) -> list[tuple[str, re.Pattern[str]]]:
    out = []
    for name, t in TEMPLATES.items():
        pattern = re.escape(t.pattern)
        for part in parts_of(t.pattern):
            pattern = pattern.replace(re.escape("{" + part + "}"), "([^:{}]+)")
        out.append((name, re.compile(re.escape(keys.prefix) + pattern + "$")))
    return out


def problems(calls: list[Call], keys: Keys, r: redis.Redis) -> list[str]:
    """What is wrong with the keys of ``calls`` (empty when every key is in order)."""
    matchers = _matchers(keys)

    def template(key: str) -> tuple[str, tuple[str, ...]] | None:
        for name, pattern in matchers:
            if m := pattern.match(key):
                return name, m.groups()
        return None

    pipe = r.pipeline(transaction=False)
    for call in calls:
        for command in call.commands:
            pipe.execute_command("COMMAND GETKEYS", *command)
    touched = iter(pipe.execute())
    out = []
    for call in calls:
        own = set(call.argv[2:])  # ARGV[1] is the prefix, ARGV[2] now
        declared = set(call.keys)
        if not call.keys:
            out.append(f"{call.script}: declares no KEYS (a Redis Cluster cannot route it)")
            continue
        slot = key_slot(call.keys[0].encode())
        for key in call.keys:
            if template(key) is None:
                out.append(f"{call.script}: declared key {key!r} is not built from keys.py")
        for command in call.commands:
            for key in next(touched):
                found = template(key)
                if found is None:
                    out.append(f"{call.script}: {command[0]} {key!r} is not built from keys.py")
                    continue
                if key_slot(key.encode()) != slot:
                    out.append(f"{call.script}: {key!r} is not in the slot of its KEYS")
                name, parts = found
                if key not in declared and all(p in own for p in parts):
                    known = f"{name}({', '.join(parts)})" if parts else name
                    out.append(
                        f"{call.script}: {command[0]} {key!r} = {known}, known before the "
                        "call, is not declared in KEYS"
                    )
    return sorted(set(out))


def test_every_script_declares_or_builds_every_key_it_touches(router, redis_url):
    names = {script.sha: name for name, script in router.client._scripts.items()}
    monitor = Monitor(redis_url)
    scripted_day(router)
    calls = script_calls(monitor.stop(), names)
    assert {c.script for c in calls} == set(scripts.NAMES)
    assert sum(len(c.commands) for c in calls) > 500  # the day really ran through Lua
    found = problems(calls, router.client.keys, router.client.redis)
    assert found == [], "\n".join(found)


def test_the_check_finds_undeclared_and_hand_built_keys(rds, redis_url):
    keys = Keys()
    monitor = Monitor(redis_url)
    # events (nameable before the call) not declared; a key outside keys.py; a declared
    # request key fine; a request key of an argument not declared
    rds.eval(
        "redis.call('XADD', ARGV[1] .. 'events', '*', 'a', 'b')"
        " redis.call('GET', ARGV[1] .. 'nonsense:' .. ARGV[3])"
        " redis.call('HGET', KEYS[1], 'state')"
        " redis.call('HGET', ARGV[1] .. 'request:' .. ARGV[4], 'state')",
        1,
        keys.request("r1"),
        keys.prefix,
        0,
        "x",
        "r2",
    )
    rds.eval("return redis.call('GET', 'elsewhere')", 0)
    calls = script_calls(monitor.stop(), {})
    assert problems(calls, keys, rds) == [
        "eval: GET 'implus:{default}:nonsense:x' is not built from keys.py",
        "eval: HGET 'implus:{default}:request:r2' = request(r2), known before the call, "
        "is not declared in KEYS",
        "eval: XADD 'implus:{default}:events' = events, known before the call, "
        "is not declared in KEYS",
        "eval: declares no KEYS (a Redis Cluster cannot route it)",
    ]


def test_per_item_keys_concatenated_are_the_formats_keys():
    """``keys_for`` builds a per-item key with one placeholder by concatenation: the same
    text as the key's format writes, for every script taking items, in several domains
    (the prefix holds braces: the hash tag)."""
    for domain in ("tput", "sales-eu"):
        keys = Keys(domain)
        for name in scripts.NAMES:
            compiled = scripts._compile(name, keys)
            per_item = compiled[2]
            if per_item is None:
                continue
            start, width, formats = per_item
            args: list[object] = [f"x{i}" for i in range(start)]
            for n in range(3):
                args += [f"v{n}-{k}" if k % 2 else n * 10 + k for k in range(width)]
            expected = [fmt.format(*args[i : i + width]) for i in range(start, len(args), width)
                        for fmt in formats]  # fmt: skip
            assert scripts.keys_for(name, keys, args)[-len(expected) :] == expected, name


def test_formats_not_of_one_bare_placeholder_keep_format():
    assert scripts._simple("a{{b}}c{2}d{{e}}") == ("a{b}c", 2, "d{e}")
    for fmt in ("a{0}:{1}", "a{0!r}", "{0:>3}", "plain"):
        assert scripts._simple(fmt) is None
