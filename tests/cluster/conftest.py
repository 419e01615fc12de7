"""Fixtures for the Redis Cluster tests: a real 3-master + 3-replica cluster on loopback
(redis_cluster.py) and real allocation workers on it (`implus router --domain ...`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from redis_cluster import IMPLUS, RedisCluster  # noqa: E402


@pytest.fixture
def redis_cluster(tmp_path: Path) -> Iterator[RedisCluster]:
    """Three masters, one replica each, on free loopback ports."""
    cluster = RedisCluster(tmp_path / "cluster", masters=3, replicas=1)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def router_workers(
    redis_cluster: RedisCluster, tmp_path: Path
) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Starts `implus router --domain d ...` processes on the cluster; stops them after."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(*domains: str, workers: int = 1) -> subprocess.Popen[bytes]:
        args = [IMPLUS, "router", "--redis-url", redis_cluster.url, "--workers", str(workers)]
        for d in domains:
            args += ["--domain", d]
        with (tmp_path / f"router-{len(procs)}.log").open("wb") as log:
            proc = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )  # fmt: skip
        procs.append(proc)
        return proc

    try:
        yield start
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)
                    p.wait(5)
