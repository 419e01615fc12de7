"""Local processes for the benchmarks: free loopback ports, a throw-away redis-server,
stopping a process, and the CPU time a process has used (from /proc).

Shared by the benchmark scripts beside it (imported as a sibling module: a script run as
``python benchmarks/x.py`` has this folder first on ``sys.path``).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parents[1]
"""The checkout these benchmarks belong to."""


def own_tree(env: dict[str, str]) -> dict[str, str]:
    """``env`` for a child process that must run THIS checkout's code: PYTHONPATH starts
    with it. Start Python children with ``-P`` too: ``-m``/``-c`` would put the current
    directory first, so a run of another tree (an export of the tree before a change)
    started from a checkout would pair that checkout's processes with the other tree's."""
    path = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return {**env, "PYTHONPATH": path}


def log(msg: str) -> None:
    """A progress line on stderr (stdout is kept for the result)."""
    print(msg, file=sys.stderr, flush=True)


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time process PID has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_redis(tmp: str) -> tuple[subprocess.Popen[bytes], str, int]:
    """A redis-server without persistence in TMP on a free port: (process, url, port)."""
    port = free_port()
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            tmp,
            "--save",
            "",
            "--appendonly",
            "no",
            "--loglevel",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        try:
            redis.Redis(port=port).ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    return proc, f"redis://127.0.0.1:{port}/0", port


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, and SIGKILL if it has not exited within 20 s."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
