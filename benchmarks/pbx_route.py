"""Calls routed to agents per second: implus (AMI bridge + router) vs Asterisk's app_queue.

One run on the sandbox Asterisk 22 (`implus sandbox asterisk up` builds it):

- N agents with phones (one sipp UAS answers for all of them: every agent's contact is
  the same port), each taking one call at a time; they answer after `--ring` s and hang up
  after `--talk` s;
- implus: customers (sipp UAC) call entry point 800 -> the generated dialplan holds them
  -> `implus ami-bridge` files a routing request -> the router's worker (`implus router`)
  picks an agent -> the bridge rings the agent's phone;
- app_queue: the same customers call 7000 -> Answer(), Queue(bench), a queue with the same
  agents as members (strategy leastrecent, ringinuse=no, wrapuptime 0).

For each rate (calls/s) both systems get the same load in the same run: `rate x
--step-seconds` calls. A call FAILS when sipp reports it failed or no agent phone got an
INVITE for it within `--max-wait` seconds (default 5). Latency = the customer's INVITE
(sent, UAC clock) to the agent's INVITE (received, UAS clock; same host): the time the
system took to pick and ring an agent. Both columns include Asterisk's `Answer()`, which
waits 500 ms for a first RTP frame the customer's sipp never sends.
The result per system: the highest rate with zero failed calls, and p50/p99 latency at
each rate. `--json` prints one JSON object as the last line.

    python benchmarks/pbx_route.py --json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import bench_processes
from bench_processes import free_port, own_tree
from pbx_report import Step, percentile, summarize
from pbx_systems import QUEUE_DIALPLAN, QUEUE_EXTEN, STRATEGY, queue_config
from sipp_logs import invites

from devstack import AsteriskSandbox
from devstack.lab import AMI_SECRET, AMI_SECRET_ENV, PBX_ID, Lab, LabAgent, LabEntry
from devstack.sipp import Sipp, SippRun
from router.client import RouterClient

AGENT_PORT = 5090
FIRST_ENDPOINT = 3001
IMPLUS_EXTEN = "800"

# --- the run -------------------------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace, folder: Path) -> None:
        self.args = args
        self.folder = folder
        self.box = AsteriskSandbox()
        self.sipp = Sipp(self.box)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.uas: SippRun | None = None
        self.uas_offset = 0
        self.serial = 0
        endpoints = [str(FIRST_ENDPOINT + i) for i in range(args.agents)]
        self.agents = [LabAgent(f"agent{e}", e, AGENT_PORT, {"booking": 1}) for e in endpoints]
        self.lab = Lab(
            self.box,
            folder / "lab",
            agents=self.agents,
            entries=[LabEntry("bench", IMPLUS_EXTEN, "booking", max_wait=300)],
            strategy=STRATEGY,
            qualify=30,
            extra_extensions=QUEUE_DIALPLAN,
            queues=queue_config(endpoints),
        )

    def say(self, text: str) -> None:
        print(f"[pbx_route] {text}", file=sys.stderr, flush=True)

    def start(self) -> None:
        self.box.up(self.say)
        self.box.hangup_all()  # nothing left over from an earlier run
        time.sleep(0.5)
        if self.active_channels() != 0:
            self.say("channels left over that do not hang up: restarting the sandbox")
            self.box.restart(self.say)
        port = free_port()
        self.redis_url = f"redis://127.0.0.1:{port}/0"
        self._spawn(
            "redis",
            [
                "redis-server",
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder),
            ],
        )
        self.client = _wait_redis(self.redis_url)
        self.lab.install()
        self.client.load_strategy(STRATEGY)
        implus = [sys.executable, "-P", "-c", "from router.cli import main; main()"]
        if self.args.profile:  # cProfile runs a script file, not -c
            script = self.folder / "implus_main.py"
            script.write_text("from router.cli import main\nmain()\n")
            worker_prof = str(self.folder / "worker.prof")
            worker = [sys.executable, "-P", "-m", "cProfile", "-o", worker_prof]
            self._spawn("worker", [*worker, str(script), "router", "--redis-url", self.redis_url])
            profile = str(self.folder / "bridge.prof")
            implus = [sys.executable, "-P", "-m", "cProfile", "-o", profile, str(script)]
        else:
            self._spawn("worker", [*implus, "router", "--redis-url", self.redis_url])
        bridge_cmd = [
            *implus,
            "ami-bridge",
            "--config",
            str(self.lab.config_path),
            "--pbx",
            PBX_ID,
            "--redis-url",
            self.redis_url,
            "--log-level",
            "warning" if not self.args.verbose else "info",
        ]
        self._spawn("bridge", bridge_cmd, env={AMI_SECRET_ENV: AMI_SECRET})
        self.uas = self.sipp.phone(
            AGENT_PORT,
            "answer",
            ring=self.args.ring,
            talk=self.args.talk,
            calls=0,
            max_seconds=7200,
        )
        for agent in self.agents:
            self.box.cli(f"pjsip qualify {agent.endpoint}")
        self._wait(
            "the bridge to push the agents",
            lambda: len(self.client.agents()) == len(self.agents),
            60,
        )
        for agent in self.agents:
            self.client.heartbeat(agent.id, source="desktop", ttl=3600)
            self.client.set_status(agent.id, "available")
        self._wait("every agent's phone available in the router", self._all_available, 60)

    def _all_available(self) -> bool:
        now = time.time() * 1000
        ready = [
            a
            for a in self.client.agents()
            if a.devices.get("sip") == "available" and a.leases.get("sip", 0) > now
        ]
        return len(ready) == len(self.agents)

    def _spawn(self, name: str, cmd: list[str], env: dict[str, str] | None = None) -> None:
        log = open(self.folder / f"{name}.log", "wb")  # noqa: SIM115 - the child owns it
        self.procs[name] = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, env=own_tree({**os.environ, **(env or {})})
        )
        log.close()

    def _wait(self, what: str, check: Any, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    tail = (self.folder / f"{name}.log").read_text(errors="replace")[-2000:]
                    raise SystemExit(f"{name} exited ({proc.returncode}):\n{tail}")
            if check():
                return
            time.sleep(0.2)
        raise SystemExit(f"benchmark setup: {what} did not happen within {timeout} s")

    def active_channels(self) -> int:
        out = self.box.cli("core show channels count")
        active = re.search(r"(\d+) active channel", out)
        return int(active.group(1)) if active else -1

    def idle(self) -> None:
        """Between steps: no channel left, every agent free again."""

        def quiet() -> bool:
            if self.active_channels() != 0:
                return False
            return all(a.load.get("voice", 0) == 0 for a in self.client.agents())

        self._wait("the PBX to be idle", quiet, 120)
        time.sleep(1.0)

    def step(self, system: str, rate: float) -> Step:
        assert self.uas is not None
        self.idle()
        self.serial += 1
        calls = max(1, round(rate * self.args.step_seconds))
        callers = [f"55{self.serial:03d}{i:05d}" for i in range(calls)]
        exten = IMPLUS_EXTEN if system == "implus" else QUEUE_EXTEN
        uas_log = self.uas.workdir / "messages.log"
        self.uas_offset = uas_log.stat().st_size if uas_log.exists() else 0
        pids = {n: p.pid for n, p in self.procs.items() if n != "redis"}
        pids["redis"] = self.procs["redis"].pid
        pids["asterisk"] = self.box.pid() or 0
        cpu0 = {n: cpu_seconds(p) for n, p in pids.items()}
        started = time.monotonic()
        run = self.sipp.customer_call(
            exten,
            caller=callers,
            hold=None,
            calls=calls,
            rate=rate,
            max_seconds=self.args.step_seconds + 60,
            limit=calls,
        )
        result = run.wait(self.args.step_seconds + 90)
        seconds = time.monotonic() - started
        cpu = {n: round(cpu_seconds(p) - cpu0[n], 2) for n, p in pids.items()}
        with open(uas_log, encoding="utf-8", errors="replace") as f:
            f.seek(self.uas_offset)
            agent_side = invites(f.read(), "received")
        customer_side = invites(
            (run.workdir / "messages.log").read_text(encoding="utf-8", errors="replace"), "sent"
        )
        latencies = [
            (agent_side[c] - customer_side[c]) * 1000
            for c in callers
            if c in agent_side and c in customer_side
        ]
        late = self.args.max_wait * 1000
        not_routed = sum(
            1
            for c in callers
            if c not in agent_side
            or c not in customer_side
            or (agent_side[c] - customer_side[c]) * 1000 > late
        )
        sipp_failed = result.failed or (0 if result.ok else 1)
        step = Step(
            system=system,
            rate=rate,
            calls=calls,
            failed=max(not_routed, sipp_failed),
            not_routed=not_routed,
            sipp_failed=sipp_failed,
            p50_ms=round(percentile(latencies, 0.50), 1),
            p99_ms=round(percentile(latencies, 0.99), 1),
            max_ms=round(max(latencies, default=float("nan")), 1),
            seconds=round(seconds, 1),
            cpu_s=cpu,
        )
        if system == "implus":
            step.segments_ms = self.segments(callers, customer_side, agent_side)
        self.say(
            f"{system:9} {rate:6.1f}/s {calls:5d} calls: failed {step.failed}, "
            f"p50 {step.p50_ms} ms, p99 {step.p99_ms} ms, cpu {cpu} {step.segments_ms or ''}"
        )
        return step

    def segments(
        self, callers: list[str], invited: dict[str, float], rung: dict[str, float]
    ) -> dict[str, dict[str, float]]:
        """From the session transcripts: INVITE -> request filed (Asterisk answers, the
        UserEvent, the bridge's submit) -> offer made (the worker) -> Originate queued
        (command to the bridge, Originate) -> the agent's INVITE (Asterisk dials)."""
        parts: dict[str, list[float]] = {
            "invite_to_request": [],
            "request_to_offer": [],
            "offer_to_originate": [],
            "originate_to_agent_invite": [],
        }
        for caller in callers[:: max(1, len(callers) // 200)]:
            sessions = self.client.history(caller, limit=1)
            if not sessions or caller not in invited or caller not in rung:
                continue
            entries = self.client.transcript(sessions[0].id)
            filed = next((e for e in entries if e["type"] == "request"), None)
            ringing = next((e for e in entries if e["type"] == "call.ringing"), None)
            if filed is None or ringing is None:
                continue
            request = self.client.request(filed["request"])
            first = self.client.explain(filed["request"])
            offer = self.client.offer(request.offer) if request and request.offer else None
            if offer is None or not first:
                continue
            parts["invite_to_request"].append(filed["at"] - invited[caller] * 1000)
            parts["request_to_offer"].append(offer.created - filed["at"])
            parts["offer_to_originate"].append(ringing["at"] - offer.created)
            parts["originate_to_agent_invite"].append(rung[caller] * 1000 - ringing["at"])
        return {
            k: {"p50": round(percentile(v, 0.5), 1), "p99": round(percentile(v, 0.99), 1)}
            for k, v in parts.items()
            if v
        }

    def stop(self) -> None:
        if self.uas is not None:
            self.uas.stop()
        self.sipp.stop_all()
        for name in ("bridge", "worker", "redis"):
            proc = self.procs.get(name)
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGINT if name in ("bridge", "worker") else signal.SIGTERM)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
        with contextlib.suppress(Exception):
            self.client.close()
        with contextlib.suppress(Exception):
            self.box.hangup_all()
        self.box.reset_includes()
        self.box.reload()


def cpu_seconds(pid: int) -> float:
    """CPU seconds of PID so far; 0 once the process has gone."""
    try:
        return bench_processes.cpu_seconds(pid)
    except OSError:
        return 0.0


def _wait_redis(url: str) -> RouterClient:
    client = RouterClient.from_url(url)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.redis.ping()
            return client
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print the result as JSON last")
    parser.add_argument("--agents", type=int, default=60)
    parser.add_argument("--ring", type=float, default=0.05, help="agent phones ring (s)")
    parser.add_argument("--talk", type=float, default=0.5, help="agents talk (s), then hang up")
    parser.add_argument("--step-seconds", type=float, default=8.0)
    parser.add_argument(
        "--max-wait",
        type=float,
        default=5.0,
        help="a call not put through to an agent within this many seconds counts as failed",
    )
    parser.add_argument(
        "--rates",
        type=lambda s: [float(x) for x in s.split(",")],
        default=[5.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 80.0],
    )
    parser.add_argument(
        "--systems",
        type=lambda s: s.split(","),
        default=["implus", "app_queue"],
        help="which systems to run (implus,app_queue); one alone for CPU-per-call runs",
    )
    parser.add_argument("--profile", action="store_true", help="cProfile the bridge")
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the run folder (logs)")
    args = parser.parse_args()
    if shutil.which("redis-server") is None:
        raise SystemExit(
            "redis-server is not installed: `make deps` (apt-get install redis-server)"
        )
    folder = Path(tempfile.mkdtemp(prefix="pbx_route-"))
    bench = Bench(args, folder)
    steps: list[Step] = []
    with bench.box.session_lock(bench.say):
        try:
            bench.start()
            failed: set[str] = set()
            for rate in args.rates:
                for system in ("implus", "app_queue"):
                    if system in failed or system not in args.systems:
                        continue
                    step = bench.step(system, rate)
                    steps.append(step)
                    if step.failed:
                        failed.add(system)
                if failed >= set(args.systems):
                    break
        finally:
            bench.stop()
    result = summarize(steps, args)
    result["logs"] = str(folder) if args.keep or args.profile else None
    if not (args.keep or args.profile):
        shutil.rmtree(folder, ignore_errors=True)
    if args.json:
        print(json.dumps(result))
    else:
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
