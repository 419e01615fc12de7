"""Each benchmark that needs only redis-server runs end to end at its smallest size and
ends with its JSON line, the work it reports complete.

Nothing here checks a speed (speed targets live in the benchmarks themselves, BENCHMARKS.md):
it checks that the commands BENCHMARKS.md gives still work. Two of them had broken without
anyone noticing (chat_fanout.py after staff tokens took a login session, wallboard.py after
queue keys took the channel): nothing ran them between measuring sessions.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.redis, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]

CASES: list[tuple[str, list[str], Callable[[dict[str, Any]], bool]]] = [
    (
        "route_throughput.py",
        ["--agents", "1000", "--requests", "2000", "--workers", "1", "--seconds", "1"],
        lambda r: r["assignments"] == 2000 and r["lost_races"] == 0,
    ),
    (
        "route_throughput.py",
        ["--agents", "1000", "--requests", "300", "--rate", "200", "--seconds", "2"],
        lambda r: r["latency_not_offered"] == 0 and r["offer_latency_p99_ms"] > 0,
    ),
    (
        "chat_fanout.py",
        [
            "--clients",
            "30",
            "--agents",
            "2",
            "--capacity",
            "5",
            "--active",
            "10",
            "--rate",
            "20",
            "--duration",
            "3",
        ],
        lambda r: r["sent"] > 0 and r["received"] == r["sent"],
    ),
    (
        "request_life.py",
        ["--agents", "200", "--requests", "100"],
        lambda r: r["requests"] == 100 and r["worker_rounds_per_request"] > 0,
    ),
    (
        "esl_bridge_calls.py",
        ["--calls", "10", "--rate", "5", "--agents", "4"],
        lambda r: r["connected"] == 10 and r["never_connected"] == 0,
    ),
    (
        "wallboard.py",
        ["--agents", "50", "--queues", "3", "--waiting", "10", "--contacts", "200"],
        lambda r: r["queue_stats_ms"] > 0 and r["history_sqlite_ms"] > 0,
    ),
]


@pytest.mark.parametrize(
    ("script", "args", "complete"),
    CASES,
    ids=[f"{script}-{i}" for i, (script, _, _) in enumerate(CASES)],
)
def test_the_benchmark_runs_and_reports(
    script: str, args: list[str], complete: Callable[[dict[str, Any]], bool]
) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args, "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert complete(report), report
