"""A real Redis Sentinel deployment on loopback for the failover tests and the chaos benchmark.

One master, its replicas and three `redis-sentinel` processes (Debian's `redis-sentinel`),
each on a free loopback port in its own folder. The data nodes run with the settings
docs/scaling.md recommends (append-only file, `min-replicas-to-write 1`, a short
`min-replicas-max-lag`, diskless sync without the 5 s delay) and the sentinels with a short
`down-after-milliseconds`, so a failover takes a few seconds.

Faults: `kill_master()` (SIGKILL), `pause(node)` / `resume(node)` (SIGSTOP / SIGCONT: a
node cut off from everyone, which comes back later still believing it is the master),
`start(node)` (its supervisor restarting it, with its files).
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

MASTER_NAME = "implus"
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 4000
MAX_LAG_S = 3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PortTaken(RuntimeError):
    """Another process bound the port picked for a node between the pick and the bind."""


def _exe(name: str, package: str) -> str:
    exe = shutil.which(name)
    if exe is None:
        raise RuntimeError(f"{name} is not installed: run `make deps` (apt-get install {package})")
    return exe


@dataclass
class Node:
    """One redis-server (a data node) or redis-sentinel process."""

    name: str
    port: int
    folder: Path
    args: list[str]
    proc: subprocess.Popen[bytes] | None = None
    paused: bool = False

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        with (self.folder / "log").open("ab") as out:
            self.proc = subprocess.Popen(self.args, cwd=self.folder, stdout=out, stderr=out)
        self.paused = False
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                # no retries: a listener that never answers must cost 1 s, not redis-py's 15
                with redis.Redis(
                    port=self.port, socket_timeout=1, retry=Retry(NoBackoff(), 0)
                ) as r:
                    pid = int(r.info("server")["process_id"])
            except redis.RedisError:  # not up yet, or a listener that is not a Redis
                pid = None
            if pid == self.proc.pid:
                return
            if self.proc.poll() is not None or pid is not None:
                # exited, or another suite's server answers on the port it could not bind
                log = self.log()[-2000:]
                self.kill()
                if pid is not None or "Address already in use" in log:
                    raise PortTaken(f"{self.name}: port {self.port} is taken: {log}")
                raise RuntimeError(f"{self.name} exited: {log}")
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not answer PING within 10 s")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        if self.proc is not None:
            if self.paused:
                self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None
        self.paused = False

    def stop(self) -> None:
        if self.alive():
            assert self.proc is not None
            if self.paused:
                self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def pause(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)
        self.paused = False

    def log(self) -> str:
        path = self.folder / "log"
        return path.read_text(errors="replace") if path.exists() else ""

    def ask(self, *command: object) -> Any:
        """One command to this process on a connection of its own (closed after)."""
        with redis.Redis(port=self.port, socket_timeout=2, decode_responses=True) as r:
            return r.execute_command(*command)


def started_on_free_port(make: Callable[[int], Node], attempts: int = 5) -> Node:
    """The node ``make`` builds for a free port, started; built again on another port when
    a parallel suite took the one picked between the pick and the bind."""
    for attempt in range(attempts):
        node = make(free_port())
        try:
            node.start()
            return node
        except PortTaken:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


@dataclass
class RedisHA:
    """The deployment: `nodes[0]` starts as the master."""

    folder: Path
    replicas: int = 1
    sentinels: int = 3
    nodes: list[Node] = field(default_factory=list)
    watchers: list[Node] = field(default_factory=list)

    @property
    def url(self) -> str:
        """The `redis+sentinel://` URL every implus process is given."""
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.watchers)
        return f"redis+sentinel://{hosts}/{MASTER_NAME}/0"

    def start(self) -> RedisHA:
        server = _exe("redis-server", "redis-server")
        sentinel = _exe("redis-sentinel", "redis-sentinel")
        for i in range(1 + self.replicas):
            self.nodes.append(
                started_on_free_port(lambda port, i=i: self._data_node(server, i, port))
            )
        self.wait_replicated(10)
        for i in range(self.sentinels):
            self.watchers.append(
                started_on_free_port(lambda port, i=i: self._sentinel(sentinel, i, port))
            )
        self.wait_sentinels_agree(15)
        return self

    def _data_node(self, server: str, i: int, port: int) -> Node:
        args = [
            server,
            *("--port", str(port), "--bind", "127.0.0.1", "--dir", "."),
            *("--appendonly", "yes", "--appendfsync", "everysec", "--save", ""),
            *("--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0"),
            *("--min-replicas-to-write", "1", "--min-replicas-max-lag", str(MAX_LAG_S)),
            *("--loglevel", "notice"),
        ]
        if i:
            args += ["--replicaof", "127.0.0.1", str(self.nodes[0].port)]
        return Node(f"redis-{i}", port, self.folder / f"redis-{i}-{port}", args)

    def _sentinel(self, sentinel: str, i: int, port: int) -> Node:
        folder = self.folder / f"sentinel-{i}-{port}"
        folder.mkdir(parents=True, exist_ok=True)
        conf = folder / "sentinel.conf"
        conf.write_text(
            f"port {port}\nbind 127.0.0.1\ndir {folder}\n"
            f"sentinel monitor {MASTER_NAME} 127.0.0.1 {self.nodes[0].port} 2\n"
            f"sentinel down-after-milliseconds {MASTER_NAME} {DOWN_AFTER_MS}\n"
            f"sentinel failover-timeout {MASTER_NAME} {FAILOVER_TIMEOUT_MS}\n"
            f"sentinel parallel-syncs {MASTER_NAME} 1\n"
        )
        return Node(f"sentinel-{i}", port, folder, [sentinel, str(conf)])

    def stop(self) -> None:
        for node in [*self.watchers, *self.nodes]:
            node.stop()

    # --- what the sentinels and the nodes say ----------------------------------------

    def master_port(self) -> int | None:
        """The master the sentinels' majority names now (None while they disagree)."""
        votes: dict[int, int] = {}
        for w in self.watchers:
            if not w.alive() or w.paused:
                continue
            try:
                addr = w.ask("SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME)
            except redis.RedisError:
                continue
            if addr:
                votes[int(addr[1])] = votes.get(int(addr[1]), 0) + 1
        best = max(votes.items(), key=lambda kv: kv[1], default=(None, 0))
        return best[0] if best[1] >= 2 else None

    def master(self) -> Node:
        port = self.master_port()
        node = next((n for n in self.nodes if n.port == port), None)
        if node is None:
            raise RuntimeError(f"the sentinels name no known master (port {port})")
        return node

    def wait_sentinels_agree(self, timeout: float) -> None:
        """Until every sentinel knows the others and the replicas (so a failover can run)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ok = True
            for w in self.watchers:
                try:
                    flat = w.ask("SENTINEL", "MASTER", MASTER_NAME)
                except redis.RedisError:
                    ok = False
                    break
                m = (
                    flat
                    if isinstance(flat, dict)
                    else dict(zip(flat[::2], flat[1::2], strict=True))
                )
                if (
                    int(m.get("num-other-sentinels", 0)) < self.sentinels - 1
                    or int(m.get("num-slaves", 0)) < self.replicas
                ):
                    ok = False
            if ok:
                return
            time.sleep(0.1)
        raise RuntimeError("the sentinels did not discover each other and the replicas in time")

    def wait_failover(self, old_port: int, timeout: float = 30) -> Node:
        """Until the sentinels name another master and it says it is one."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            port = self.master_port()
            if port is not None and port != old_port:
                node = self.master()
                try:
                    if node.ask("ROLE")[0] == "master":
                        return node
                except redis.RedisError:
                    pass
            time.sleep(0.05)
        raise RuntimeError(f"no failover within {timeout} s: {self.describe()}")

    def wait_replicated(self, timeout: float) -> None:
        """Until the master has as many replicas online as it should."""
        deadline = time.monotonic() + timeout
        want = len([n for n in self.nodes if n.alive() and not n.paused]) - 1
        while time.monotonic() < deadline:
            for n in self.nodes:
                if not n.alive() or n.paused:
                    continue
                try:
                    info = n.ask("INFO", "replication")
                except redis.RedisError:
                    continue
                if info.get("role") == "master":
                    online = [
                        v
                        for k, v in info.items()
                        if k.startswith("slave")
                        and isinstance(v, dict)
                        and v.get("state") == "online"
                    ]
                    if len(online) >= want:
                        return
            time.sleep(0.05)
        raise RuntimeError(f"the replicas did not catch up in time: {self.describe()}")

    def describe(self) -> str:
        return describe_nodes(self.nodes) + f"; sentinels name {self.master_port()}"

    # --- faults -------------------------------------------------------------------

    def kill_master(self) -> Node:
        node = self.master()
        node.kill()
        return node


def whole_transcript(router: Any, session_id: str) -> list[dict[str, Any]]:
    """Every entry of a session's transcript (the client reads 1,000 at a time)."""
    out: list[dict[str, Any]] = []
    while True:
        page = router.transcript(session_id, after=out[-1]["id"] if out else "0-0")
        out += page
        if len(page) < 1000:
            return out


def describe_nodes(nodes: list[Node]) -> str:
    """Each node's name, port and role as it answers (down, paused, master, slave...)."""
    out = []
    for n in nodes:
        role = "down" if not n.alive() else "paused" if n.paused else "?"
        if n.alive() and not n.paused:
            try:
                role = str(n.ask("ROLE")[0])
            except redis.RedisError as e:
                role = f"error {e}"
        out.append(f"{n.name}:{n.port}={role}")
    return ", ".join(out)
