"""The scripts are cluster-safe: on a real 3-master Redis Cluster, through redis-py's
RedisCluster client, every script routes to the node of its KEYS and runs there (a script
touching a key of another node, or declaring none, fails on a cluster)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.cluster import RedisCluster
from router_harness import Clock, make_router, scripted_day

from router import scripts
from router.client import RouterClient


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[int]]:
    """Three masters on loopback sharing the 16384 slots; yields their ports."""
    for tool in ("redis-server", "redis-cli"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} is not installed: run `make deps`")
    workdir: Path = tmp_path_factory.mktemp("cluster")
    ports = _free_ports(6)
    nodes, bus = ports[:3], ports[3:]
    procs = [
        subprocess.Popen(
            [
                "redis-server",
                "--port", str(port),
                "--cluster-port", str(bus_port),
                "--bind", "127.0.0.1",
                "--cluster-enabled", "yes",
                "--cluster-config-file", str(workdir / f"nodes-{port}.conf"),
                "--dir", str(workdir),
                "--save", "",
                "--appendonly", "no",
                "--loglevel", "warning",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for port, bus_port in zip(nodes, bus, strict=True)
    ]  # fmt: skip
    try:
        for port in nodes:
            _wait(lambda p=port: redis.Redis(port=p).ping(), "redis-server to answer")
        subprocess.run(
            ["redis-cli", "--cluster", "create", *(f"127.0.0.1:{p}" for p in nodes),
             "--cluster-replicas", "0", "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=60,
        )  # fmt: skip
        for port in nodes:
            _wait(lambda p=port: _cluster_ok(p), "the cluster to be ok")
        yield nodes
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(10)


def _cluster_ok(port: int) -> bool:
    out = subprocess.run(
        ["redis-cli", "-p", str(port), "cluster", "info"], capture_output=True, text=True
    ).stdout
    return "cluster_state:ok" in out


def _wait(check, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except redis.RedisError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


def test_every_script_routes_and_runs_on_a_redis_cluster(cluster):
    clock = Clock()
    client = RouterClient(
        RedisCluster(host="127.0.0.1", port=cluster[0], decode_responses=True),  # type: ignore[arg-type]
        "default",
        clock=clock,
    )
    router = make_router(client, clock)
    seen: set[str] = set()
    run = client._call

    def recording(step):  # type: ignore[no-untyped-def]
        seen.add(step.name)
        return run(step)

    client._call = recording  # type: ignore[method-assign]
    scripted_day(router)
    assert seen == set(scripts.NAMES)
    # the domain's keys live on one node of three; the scripts ran there
    nodes = client.redis.get_nodes()
    owner = client.redis.get_node_from_key(client.keys.events())
    assert len(nodes) == 3 and client.redis.exists(client.keys.events())
    others = [n for n in nodes if n.name != owner.name]
    assert all(n.redis_connection.dbsize() == 0 for n in others)
    client.close()


def test_a_node_without_the_domain_redirects_a_script_by_its_keys(cluster):
    """Why the scripts declare KEYS: a node that does not hold the domain's slot answers
    MOVED for them (RedisCluster then asks the right node), where a script naming keys
    it did not declare would run there and fail on a key that is not local."""
    client = RouterClient(
        RedisCluster(host="127.0.0.1", port=cluster[0], decode_responses=True),  # type: ignore[arg-type]
        "elsewhere",
    )
    owner = client.redis.get_node_from_key(client.keys.events())
    stranger = next(n for n in client.redis.get_nodes() if n.name != owner.name)
    sha = client.redis.script_load(scripts.source("load_strategy"))
    args = ("rules: []",)
    keys = scripts.keys_for("load_strategy", client.keys, args)
    with pytest.raises(redis.exceptions.MovedError):
        stranger.redis_connection.evalsha(sha, len(keys), *keys, client.keys.prefix, 0, *args)
    with pytest.raises(redis.ResponseError, match="non local key"):
        stranger.redis_connection.eval(
            "return redis.call('HGET', ARGV[1] .. 'strategy', 'version')", 0, client.keys.prefix
        )
    assert client.load_strategy("rules: []") == 1
    assert owner.redis_connection.hget(client.keys.strategy(), "version") == "1"
    client.close()
