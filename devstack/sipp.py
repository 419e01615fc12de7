"""Real SIP phones for the sandbox: sipp, run inside the chroot, driven from Python.

- `customer_call`: a customer (UAC, from 127.0.0.2) calls an extension; holds for a
  while and hangs up, or waits for the far end to hang up.
- `phone`: a phone (UAS) that answers after a delay, never answers, or is busy (486);
  an agent's phone on 127.0.0.1:<port>, or the customers' phone on 127.0.0.2:5070
  that `PJSIP/<number>@customers` rings.
- `register`: a phone registers (or unregisters) an extension's contact.

Agent phones reach Asterisk in one of two ways (see `agent_endpoint_config`): a static
contact with OPTIONS qualify (sipp answers OPTIONS with `-aa`; a phone that is not
running becomes Unreachable), or a registration (`register`; no registration means
the endpoint is Unavailable and cannot be dialled). Each run leaves its message log in
`<chroot>/var/lib/implus-sipp/<run>/` for the test to read or a person to debug.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import signal
import socket
import subprocess
import time
from importlib import resources
from pathlib import Path
from typing import Literal

from . import configs
from .asterisk import AsteriskSandbox
from .errors import SandboxError
from .media import TONE, ulaw_tone
from .sipp_results import SippResult, parse_message_log, sipp_stat

PhoneBehaviour = Literal["answer", "talk", "busy", "no_answer"]

_SCENARIOS = {
    "answer": "agent_answer.xml",
    "talk": "agent_answer_media.xml",
    "busy": "agent_busy.xml",
    "no_answer": "agent_no_answer.xml",
}
_run_ids = itertools.count(1)
#: Inside the chroot: one folder per run with scenario, data, command and logs.
RUNS_DIR = "/var/lib/implus-sipp"
#: Run folders older than this are pruned when a `Sipp` is created.
KEEP_RUNS_S = 3600


class SippRun:
    """A sipp process running inside the chroot; `wait()` for its result."""

    def __init__(self, proc: subprocess.Popen[bytes], workdir: Path, name: str) -> None:
        self.proc = proc
        self.workdir = workdir
        self.name = name

    def wait(self, timeout: float = 60) -> SippResult:
        """Wait for sipp to exit (killing it after `timeout`) and parse its logs."""
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise SandboxError(
                f"sipp {self.name} did not finish in {timeout} s; logs in {self.workdir}"
            ) from None
        return self.result()

    def stop(self) -> None:
        """Kill this sipp (our own child, by pid) if it still runs."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def result(self) -> SippResult:
        stdout = _read(self.workdir / "stdout.log")
        return SippResult(
            returncode=self.proc.returncode if self.proc.returncode is not None else -1,
            successful=sipp_stat(stdout, "Successful call"),
            failed=sipp_stat(stdout, "Failed call"),
            messages=tuple(parse_message_log(_read(self.workdir / "messages.log"))),
            errors=_read(self.workdir / "errors.log")
            + "\n".join(line for line in stdout.splitlines() if "rror" in line),
            workdir=self.workdir,
        )

    def __enter__(self) -> SippRun:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Sipp:
    """Starts sipp runs in the sandbox's chroot."""

    def __init__(self, sandbox: AsteriskSandbox) -> None:
        self.sandbox = sandbox
        self.runs: list[SippRun] = []
        self._prune_old_runs()

    def _prune_old_runs(self) -> None:
        runs = self.sandbox.chroot_path(RUNS_DIR)
        if not runs.is_dir():
            return
        cutoff = time.time() - KEEP_RUNS_S
        for old in runs.iterdir():
            with contextlib.suppress(OSError):
                if old.stat().st_mtime < cutoff:
                    shutil.rmtree(old, ignore_errors=True)

    def stop_all(self) -> None:
        """Kill every run this object started that still runs (test teardown)."""
        for run in self.runs:
            run.stop()

    def customer_call(
        self,
        exten: str,
        caller: str | list[str] = "5551234",
        hold: float | None = 2.0,
        calls: int = 1,
        rate: float = 10.0,
        max_seconds: float = 60,
        limit: int | None = None,
        source: tuple[str, int] | None = None,
        rtp_echo: int | None = None,
        media: bool = False,
    ) -> SippRun:
        """A customer calls `exten` (context `sandbox-inbound`) from 127.0.0.2.

        `hold`: seconds after the answer before the customer hangs up; None waits for
        the far end to hang up (up to `max_seconds`, which also bounds the whole run).
        `caller` may be one number or a list (used in turn, one per call). `limit` caps
        the calls open at once (sipp -l; its default is low for load tests).
        `source`: call from this (host, port) instead, e.g. another PBX's address that a
        pjsip `identify` maps to an inter-PBX trunk.
        `rtp_echo`: a free UDP port; the customer's SDP offers it and sipp echoes every RTP
        packet it gets there back to the sender (the far end then receives audio).
        `media`: the customer sends audio (a tone) once answered, so the call's bridges
        and recordings carry some.
        """
        callers = [caller] if isinstance(caller, str) else caller
        host, port = source or (
            configs.CUSTOMER_HOST,
            _free_udp_port(configs.CUSTOMER_HOST, avoid={configs.CUSTOMER_UAS_PORT}),
        )
        hold_ms = 0 if hold is None else max(1, int(hold * 1000))
        if media:
            self._ensure_tone()
        return self._start(
            "customer_call_media.xml" if media else "customer_call.xml",
            name=f"customer-call-{exten}",
            args=[
                f"{configs.SIP_HOST}:{configs.SIP_PORT}",
                "-s",
                exten,
                "-i",
                host,
                "-p",
                str(port),
                "-set",
                "hold_ms",
                str(hold_ms),
                "-m",
                str(calls),
                "-r",
                str(rate),
                "-recv_timeout",
                f"{int(max_seconds * 1000)}",
                *(["-l", str(limit)] if limit else []),
                *_echo_args(rtp_echo),
            ],
            csv_rows=[[c] for c in callers],
            max_seconds=max_seconds,
        )

    def phone(
        self,
        port: int,
        behaviour: PhoneBehaviour = "answer",
        ring: float = 0.0,
        talk: float | None = None,
        calls: int = 1,
        host: str = configs.SIP_HOST,
        max_seconds: float = 120,
        rtp_echo: int | None = None,
    ) -> SippRun:
        """A phone listening on host:port (UAS) for `calls` calls (0: until stopped).

        `behaviour`: "answer" after ringing `ring` s ("talk": and sends audio, a tone,
        until the call ends); "no_answer" rings until the caller cancels; "busy" answers
        486 Busy Here. `talk`: seconds after the answer
        before the phone hangs up itself; None waits for the far end to hang up.
        Answers OPTIONS (qualify) automatically. Returns once the port is listening.
        `rtp_echo`: a free UDP port where sipp echoes the RTP it receives (see
        `customer_call`).
        """
        args = [
            "-i",
            host,
            "-p",
            str(port),
            "-aa",
            "-recv_timeout",
            f"{int(max_seconds * 1000)}",
        ]
        if calls:
            args += ["-m", str(calls)]
        if behaviour == "talk":
            self._ensure_tone()
        if behaviour in ("answer", "talk"):
            args += ["-set", "ring_ms", str(int(ring * 1000))]
            args += ["-set", "talk_ms", str(0 if talk is None else max(1, int(talk * 1000)))]
        args += _echo_args(rtp_echo)
        run = self._start(
            _SCENARIOS[behaviour],
            name=f"phone-{behaviour}-{port}",
            args=args,
            max_seconds=max_seconds,
        )
        _wait_udp_bound(host, port, run)
        return run

    def customer_phone(self, behaviour: PhoneBehaviour = "answer", **kwargs: object) -> SippRun:
        """The customers' phone on 127.0.0.2:5070, rung by `PJSIP/<number>@customers`."""
        return self.phone(
            configs.CUSTOMER_UAS_PORT,
            behaviour,
            host=configs.CUSTOMER_HOST,
            **kwargs,  # type: ignore[arg-type]
        )

    def _ensure_tone(self) -> None:
        path = self.sandbox.chroot_path(TONE)
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(ulaw_tone())  # where the talking scenarios read it

    def register(self, exten: str, contact_port: int, expires: int = 300) -> SippResult:
        """Register `exten`'s contact sip:<exten>@127.0.0.1:<contact_port> (0 s: remove)."""
        run = self._start(
            "register.xml",
            name=f"register-{exten}",
            args=[
                f"{configs.SIP_HOST}:{configs.SIP_PORT}",
                "-i",
                configs.SIP_HOST,
                "-p",
                str(_free_udp_port(configs.SIP_HOST)),
                "-m",
                "1",
            ],
            csv_rows=[[exten, str(contact_port), str(expires)]],
            max_seconds=10,
        )
        result = run.wait(15)
        if not result.ok:
            raise SandboxError(f"REGISTER of {exten} failed: {result.describe()}")
        return result

    def _start(
        self,
        scenario: str,
        name: str,
        args: list[str],
        max_seconds: float,
        csv_rows: list[list[str]] | None = None,
    ) -> SippRun:
        if not self.sandbox.is_built():
            raise SandboxError("the sandbox is not built: run `implus sandbox asterisk up`")
        inside = f"{RUNS_DIR}/{os.getpid()}-{next(_run_ids)}-{name}"
        workdir = self.sandbox.chroot_path(inside)
        shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir(parents=True)
        source = resources.files("devstack") / "scenarios" / scenario
        (workdir / scenario).write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
        cmd = ["chroot", str(self.sandbox.root), "sipp", *args, "-sf", f"{inside}/{scenario}"]
        if csv_rows is not None:
            rows = "".join(";".join(row) + ";\n" for row in csv_rows)
            (workdir / "data.csv").write_text("SEQUENTIAL\n" + rows, encoding="utf-8")
            cmd += ["-inf", f"{inside}/data.csv"]
        cmd += [
            "-nostdin",
            "-timeout",
            f"{int(max_seconds)}s",
            "-timeout_error",
            "-trace_msg",
            "-message_file",
            f"{inside}/messages.log",
            "-trace_err",
            "-error_file",
            f"{inside}/errors.log",
        ]
        (workdir / "command.txt").write_text(" ".join(cmd) + "\n", encoding="utf-8")
        with open(workdir / "stdout.log", "wb") as out:
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group, so stop() kills chroot + sipp
                cwd=workdir,
            )
        run = SippRun(proc, workdir, name)
        self.runs.append(run)
        return run


def agent_endpoint_config(
    exten: str,
    contact_port: int | None = None,
    context: str = "implus-agent",
    qualify: float = 2.0,
) -> str:
    """pjsip config for a sandbox agent phone (tests; `dialplan render` makes real ones).

    With `contact_port` the phone has a static contact on 127.0.0.1:<port> checked by
    OPTIONS every `qualify` s; without it the phone must `register`. No auth: only
    loopback reaches the sandbox.
    """
    aor = [f"[{exten}]", "type = aor", f"qualify_frequency = {qualify:g}", "qualify_timeout = 1"]
    if contact_port is None:
        aor += ["max_contacts = 1", "remove_existing = yes", "minimum_expiration = 1"]
    else:
        aor += [f"contact = sip:{exten}@{configs.SIP_HOST}:{contact_port}"]
    endpoint = [
        f"[{exten}]",
        "type = endpoint",
        f"context = {context}",
        "disallow = all",
        "allow = ulaw,alaw",
        "direct_media = no",
        # RTP would bind to all addresses without these two
        f"media_address = {configs.SIP_HOST}",
        "bind_rtp_to_media_address = yes",
        f"aors = {exten}",
    ]
    return "\n".join([*endpoint, "", *aor]) + "\n\n"


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _free_udp_port(host: str, avoid: set[int] | None = None) -> int:
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((host, 0))
            port = int(s.getsockname()[1])
        if port not in (avoid or set()) and port != configs.SIP_PORT:
            return port
    raise SandboxError(f"no free UDP port on {host}")


def udp_bound(host: str, port: int) -> bool:
    """True when some socket is bound to host:port (read from /proc/net/udp, no probing)."""
    want = f"{socket.inet_aton(host)[::-1].hex().upper()}:{port:04X}"
    with open("/proc/net/udp", encoding="ascii") as f:
        return any(line.split()[1] == want for line in f.readlines()[1:])


def _wait_udp_bound(host: str, port: int, run: SippRun, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if run.proc.poll() is not None:
            raise SandboxError(f"sipp {run.name} exited at start: {run.result().describe()}")
        if udp_bound(host, port):
            return
        time.sleep(0.02)
    run.stop()
    raise SandboxError(f"sipp {run.name} did not listen on {host}:{port} within {timeout} s")


def _echo_args(port: int | None) -> list[str]:
    """sipp's RTP echo on `port` (the scenarios' SDP announce [media_port])."""
    return ["-rtp_echo", "-mp", str(port)] if port else []
