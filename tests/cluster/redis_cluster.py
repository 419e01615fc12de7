"""A real Redis Cluster on loopback for the cluster tests and the throughput benchmark.

``masters`` primaries with ``replicas`` replicas each (`redis-server --cluster-enabled yes`
on free loopback ports, each in its own folder, joined by `redis-cli --cluster create`).
The nodes run with the settings docs/scaling.md recommends for a cluster (append-only file,
`min-replicas-to-write 1` when there are replicas, diskless sync) and a short
`cluster-node-timeout`, so a failover takes a few seconds.

Faults and changes: :meth:`RedisCluster.kill` (SIGKILL of a node), :meth:`move_slot` (the
slot and its keys to another master: what `redis-cli --cluster reshard` does, one slot),
:meth:`wait_failover` (until a replica of a killed master serves its slots).
"""

from __future__ import annotations

import random
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from redis.cluster import key_slot

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "ha"))
from redis_ha import Node, _exe, describe_nodes, started_on_free_port

NODE_TIMEOUT_MS = 1500
IMPLUS = str(Path(sys.executable).with_name("implus"))
"""The `implus` command of this virtualenv."""
MAX_LAG_S = 3


def cluster_port() -> int:
    """A free loopback port whose cluster bus port (+10000) is free too."""
    for _ in range(200):
        port = random.randint(20_000, 45_000)
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 10_000))
        except OSError:
            continue
        return port
    raise RuntimeError("no free pair of loopback ports for a cluster node")


def slot_of(key: str) -> int:
    """The hash slot of a key (its ``{tag}`` when it has one)."""
    return int(key_slot(key.encode()))


def domain_slot(domain: str) -> int:
    """The slot every key of a routing domain is in (``implus:{domain}:...``)."""
    return slot_of(f"implus:{{{domain}}}:agents")


@dataclass
class RedisCluster:
    """The deployment; ``nodes[:masters]`` start as the primaries."""

    folder: Path
    masters: int = 3
    replicas: int = 1
    nodes: list[Node] = field(default_factory=list)

    @property
    def url(self) -> str:
        """The `redis+cluster://` URL every implus process is given (seed nodes)."""
        hosts = ",".join(f"127.0.0.1:{n.port}" for n in self.nodes[: self.masters])
        return f"redis+cluster://{hosts}/"

    def start(self) -> RedisCluster:
        server = _exe("redis-server", "redis-server")
        cli = _exe("redis-cli", "redis-tools")
        min_replicas = ["--min-replicas-to-write", "1"] if self.replicas else []
        for i in range(self.masters * (1 + self.replicas)):
            self.nodes.append(self._node(i, server, min_replicas))
        create = subprocess.run(
            [
                cli, "--cluster", "create",
                *(f"127.0.0.1:{n.port}" for n in self.nodes),
                "--cluster-replicas", str(self.replicas), "--cluster-yes",
            ],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        if create.returncode != 0:
            raise RuntimeError(f"redis-cli --cluster create failed: {create.stdout}{create.stderr}")
        self.wait_ok(30)
        self.wait_replicated(30)
        return self

    def _node(self, i: int, server: str, min_replicas: list[str]) -> Node:
        """Node `i`, started on a free port pair; picked again if another suite took the
        port between the check and the bind (``redis_ha.started_on_free_port``)."""

        def make(_: int) -> Node:
            port = cluster_port()
            args = [
                server,
                *("--port", str(port), "--bind", "127.0.0.1", "--dir", "."),
                *("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"),
                *("--cluster-node-timeout", str(NODE_TIMEOUT_MS)),
                *("--appendonly", "yes", "--appendfsync", "everysec", "--save", ""),
                *("--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0"),
                *min_replicas,
                *("--min-replicas-max-lag", str(MAX_LAG_S), "--loglevel", "notice"),
            ]
            return Node(f"node-{i}", port, self.folder / f"node-{i}-{port}", args)

        return started_on_free_port(make)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    # --- what the nodes say -------------------------------------------------------

    def live(self) -> list[Node]:
        return [n for n in self.nodes if n.alive() and not n.paused]

    def node_id(self, node: Node) -> str:
        return str(node.ask("CLUSTER", "MYID"))

    def by_port(self, port: int) -> Node:
        return next(n for n in self.nodes if n.port == port)

    def slot_owner(self, slot: int) -> Node:
        """The primary serving ``slot`` now, as a live node's CLUSTER SLOTS says."""
        for asked in self.live():
            try:
                ranges = asked.ask("CLUSTER", "SLOTS")
            except redis.RedisError:
                continue
            for first, last, primary, *_ in ranges:
                if int(first) <= slot <= int(last):
                    return self.by_port(int(primary[1]))
        raise RuntimeError(f"no node serves slot {slot}: {self.describe()}")

    def primaries(self) -> list[Node]:
        return [n for n in self.live() if n.ask("ROLE")[0] == "master"]

    def replicas_of(self, primary: Node) -> list[Node]:
        pid = self.node_id(primary)
        out = []
        for n in self.live():
            if n is primary:
                continue
            info = _fields(n.ask("CLUSTER", "NODES"), "myself")
            if info and info[3] == pid:
                out.append(n)
        return out

    def wait_ok(self, timeout: float) -> None:
        """Until every live node says cluster_state:ok and agrees on who serves what."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                states = [n.ask("CLUSTER", "INFO") for n in self.live()]
                views = {str(sorted(map(str, n.ask("CLUSTER", "SLOTS")))) for n in self.live()}
            except redis.RedisError:
                states, views = [], set()
            if states and all("cluster_state:ok" in _text(s) for s in states) and len(views) == 1:
                return
            time.sleep(0.1)
        raise RuntimeError(f"the cluster is not ok after {timeout} s: {self.describe()}")

    def wait_replicated(self, timeout: float) -> None:
        """Until every primary has its replicas online AND counts them good for
        `min-replicas-to-write` (a replica acknowledged within `min-replicas-max-lag`):
        a replica just synced is connected a moment before its first acknowledgement, and
        a write meanwhile is refused with NOREPLICAS (seen on a fresh CI machine)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                infos = [p.ask("INFO", "replication") for p in self.primaries()]
                counts = [
                    min(
                        int(info.get("connected_slaves", 0)),
                        int(info.get("min_slaves_good_slaves", self.replicas)),
                    )
                    for info in infos
                ]
            except redis.RedisError:
                counts = []
            if counts and min(counts) >= self.replicas:
                return
            time.sleep(0.1)
        raise RuntimeError(f"the replicas did not catch up in time: {self.describe()}")

    def wait_failover(self, slot: int, old: Node, timeout: float = 30) -> Node:
        """Until a node other than ``old`` serves ``slot`` as a primary and the cluster is ok."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                owner = self.slot_owner(slot)
                if owner is not old and owner.ask("ROLE")[0] == "master":
                    self.wait_ok(max(1.0, deadline - time.monotonic()))
                    return owner
            except (redis.RedisError, RuntimeError):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"no failover of slot {slot} within {timeout} s: {self.describe()}")

    def describe(self) -> str:
        return describe_nodes(self.nodes)

    # --- changes --------------------------------------------------------------------

    def other_master_slot_domain(self, taken: list[str], prefix: str = "d") -> str:
        """A domain name whose slot is on a primary none of ``taken`` is on."""
        used = {self.slot_owner(domain_slot(d)).port for d in taken}
        for i in range(10_000):
            name = f"{prefix}{i}"
            if self.slot_owner(domain_slot(name)).port not in used:
                return name
        raise RuntimeError("no domain name found on another primary")

    def move_slot(self, slot: int, target: Node, batch: int = 100) -> int:
        """Move ``slot`` and its keys to the primary ``target``, the way `redis-cli --cluster
        reshard` does (IMPORTING / MIGRATING, MIGRATE in batches, SETSLOT NODE everywhere).
        Returns how many keys moved."""
        source = self.slot_owner(slot)
        if source is target:
            return 0
        src_id, dst_id = self.node_id(source), self.node_id(target)
        target.ask("CLUSTER", "SETSLOT", slot, "IMPORTING", src_id)
        source.ask("CLUSTER", "SETSLOT", slot, "MIGRATING", dst_id)
        moved = 0
        while True:
            keys = source.ask("CLUSTER", "GETKEYSINSLOT", slot, batch)
            if not keys:
                break
            source.ask("MIGRATE", "127.0.0.1", target.port, "", 0, 5000, "KEYS", *keys)
            moved += len(keys)
        for node in [target, source, *[p for p in self.primaries() if p not in (target, source)]]:
            node.ask("CLUSTER", "SETSLOT", slot, "NODE", dst_id)
        self.wait_ok(15)
        return moved

    def kill(self, node: Node) -> None:
        node.kill()

    def ask_client(self, **kwargs: Any) -> redis.cluster.RedisCluster:
        """A plain redis-py cluster client for checks."""
        first = self.live()[0]
        return redis.cluster.RedisCluster(
            host="127.0.0.1", port=first.port, decode_responses=True, **kwargs
        )


def read_on_replica(node: Node, *command: object) -> Any:
    """A read command on a replica itself (READONLY first, on the same connection)."""
    with redis.Redis(port=node.port, socket_timeout=2, decode_responses=True) as r:
        r.execute_command("READONLY")
        return r.execute_command(*command)


def _text(reply: Any) -> str:
    return reply.decode() if isinstance(reply, bytes) else str(reply)


def _fields(nodes_text: Any, flag: str) -> list[str] | None:
    for line in _text(nodes_text).splitlines():
        parts = line.split()
        if len(parts) > 3 and flag in parts[2].split(","):
            return parts
    return None
