"""The router's command packer puts the same bytes on the wire as redis-py's own."""

from __future__ import annotations

import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st
from redis.connection import Connection

from router.client import RouterClient
from router.client.packer import HiredisPacker

PACKER = HiredisPacker()
REDIS_PY = Connection()  # not connected: only its packer is used


def _redis_py(*args: object) -> bytes:
    return b"".join(bytes(chunk) for chunk in REDIS_PY.pack_command(*args))


ARGS = st.one_of(
    st.text(),
    st.binary(),
    st.integers(),
    st.floats(allow_nan=False),
)


@given(st.lists(ARGS, max_size=20))
def test_any_arguments_pack_as_redis_py_packs_them(args):
    assert b"".join(PACKER.pack("EVALSHA", *args)) == _redis_py("EVALSHA", *args)


@pytest.mark.parametrize(
    "args",
    [
        ("SCRIPT LOAD", "return 1"),
        ("COMMAND GETKEYS", "SET", "k", "v"),
        ("SET", "k", "é ü 😀"),
        ("SET", "k", memoryview(b"\x00\xff")),
        ("EVALSHA", "a" * 40, 2, "implus:{d}:request:r", "implus:{d}:events", 10**20, -0.0),
    ],
)
def test_multiword_commands_and_odd_values_pack_the_same(args):
    assert b"".join(PACKER.pack(*args)) == _redis_py(*args)


@pytest.mark.parametrize("bad", [True, None, object(), ["a"]])
def test_values_redis_py_refuses_are_refused_the_same_way(bad):
    with pytest.raises(redis.DataError) as ours:
        PACKER.pack("SET", "k", bad)
    with pytest.raises(redis.DataError) as theirs:
        REDIS_PY.pack_command("SET", "k", bad)
    assert str(ours.value) == str(theirs.value)


def test_the_router_client_talks_to_redis_through_it(redis_url):
    client = RouterClient.from_url(redis_url)
    assert (
        client.redis.connection_pool.connection_kwargs["command_packer"].__class__ is HiredisPacker
    )
    client.redis.set("implus:{default}:probe", "é")
    assert client.redis.get("implus:{default}:probe") == "é"
    assert client.cancel("nope").reason == "unknown request"  # a script call through it
    client.close()


@given(st.lists(st.lists(ARGS, min_size=1, max_size=8), min_size=1, max_size=6))
def test_a_pipeline_packs_as_redis_py_packs_its_commands(commands):
    calls = [("EVALSHA", *args) for args in commands]
    ours = b"".join(PACKER.pack_many(calls))
    assert ours == b"".join(bytes(chunk) for chunk in REDIS_PY.pack_commands(calls))
