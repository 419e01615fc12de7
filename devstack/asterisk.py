"""The Asterisk sandbox: a Debian sid chroot with Asterisk 22 and sipp, run on loopback.

`AsteriskSandbox` is the Python API behind `implus sandbox asterisk up|down|status` and
the pytest fixture. Only one sandbox can run on a machine (it owns 127.0.0.1:5038 and
:5060), so test sessions serialize on `session_lock()`, an fcntl lock beside the chroot.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from . import build, configs
from .ami_probe import ami_fully_booted
from .chroot_procs import alive_in, chrooted
from .errors import SandboxError
from .sandbox_files import SandboxFiles

DEFAULT_ROOT = Path("~/.cache/implus/sandbox/asterisk-sid")
ROOT_ENV = "IMPLUS_SANDBOX_DIR"
READY_TIMEOUT = 30.0
LOCK_PID_ENV = "IMPLUS_SANDBOX_LOCK_PID"
"""Set while a process holds the session lock; its children inherit the lock."""

Report = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def default_root() -> Path:
    """The chroot folder: $IMPLUS_SANDBOX_DIR, else ~/.cache/implus/sandbox/asterisk-sid."""
    return Path(os.environ.get(ROOT_ENV) or DEFAULT_ROOT).expanduser().absolute()


@dataclass(frozen=True)
class SandboxStatus:
    """What `implus sandbox asterisk status` reports."""

    root: Path
    built: bool
    version: str | None
    running: bool
    pid: int | None
    ami_ready: bool
    proc_mounted: bool
    lock_holder: str | None

    def lines(self) -> list[str]:
        """Human-readable report, one fact per line."""
        out = [f"chroot:   {self.root} ({'built' if self.built else 'not built'})"]
        if self.version:
            out.append(f"version:  {self.version}")
        if self.running:
            out.append(f"asterisk: running, pid {self.pid}")
        else:
            out.append("asterisk: not running")
        ami = f"{configs.AMI_HOST}:{configs.AMI_PORT}"
        out.append(f"AMI:      {ami} {'answers (FullyBooted)' if self.ami_ready else 'down'}")
        out.append(f"/proc:    {'mounted' if self.proc_mounted else 'not mounted'}")
        out.append(f"lock:     {self.lock_holder or 'free'}")
        return out


class AsteriskSandbox(SandboxFiles):
    """Build, start, stop, configure and reload the sandbox Asterisk."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = (root or default_root()).absolute()

    # paths -------------------------------------------------------------------------
    @property
    def etc(self) -> Path:
        """The chroot's /etc/asterisk, where base configs and include files live."""
        return self.root / "etc/asterisk"

    @property
    def console_log(self) -> Path:
        """What `asterisk -F` printed before it daemonized (start-up errors)."""
        return self.root / "var/log/asterisk/console.log"

    @property
    def messages_log(self) -> Path:
        return self.root / "var/log/asterisk/messages.log"

    @property
    def lock_path(self) -> Path:
        return self.root.parent / f"{self.root.name}.lock"

    @property
    def history_path(self) -> Path:
        """Who started/stopped/killed the sandbox and when (shared by every user)."""
        return self.root.parent / f"{self.root.name}.history.log"

    def _note(self, what: str) -> None:
        with contextlib.suppress(OSError), open(self.history_path, "a", encoding="utf-8") as f:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            who = " ".join(_cmdline(os.getpid()))[:160]
            f.write(f"{stamp} {what} by pid {os.getpid()} ({who})\n")

    def chroot_path(self, inside: str) -> Path:
        """A path inside the chroot as seen from the host."""
        return self.root / inside.lstrip("/")

    # state -------------------------------------------------------------------------
    def is_built(self) -> bool:
        return (self.root / build.MARKER).is_file()

    def version(self) -> str | None:
        marker = self.root / build.MARKER
        if not marker.is_file():
            return None
        return marker.read_text(encoding="utf-8").splitlines()[0]

    def pid(self) -> int | None:
        """The pid of the sandbox's running Asterisk, checked against /proc, or None.

        From its pidfile, or - when that is missing or not written yet - the asterisk
        process chrooted into this sandbox: a pidfile read while Asterisk was writing it
        once made a start look failed, the second start's Asterisk (refused: the ports are
        taken) deleted the first one's pidfile on its way out, and every later test found
        "something else" on the AMI port (CI at 9906fdf)."""
        pidfile = self.root / "run/asterisk/asterisk.pid"
        try:
            pid = int(pidfile.read_text().strip())
        except (OSError, ValueError):
            return self._chrooted_asterisk()
        return pid if self._alive(pid) else self._chrooted_asterisk()

    def _chrooted_asterisk(self) -> int | None:
        return chrooted(self.root, "asterisk")

    def _alive(self, pid: int) -> bool:
        return alive_in(pid, self.root)

    def is_running(self) -> bool:
        return self.pid() is not None

    def proc_mounted(self) -> bool:
        return os.path.ismount(self.root / "proc")

    def status(self) -> SandboxStatus:
        return SandboxStatus(
            root=self.root,
            built=self.is_built(),
            version=self.version(),
            running=self.is_running(),
            pid=self.pid(),
            ami_ready=self.is_built() and ami_fully_booted(timeout=2.0),
            proc_mounted=self.proc_mounted(),
            lock_holder=self.lock_holder(),
        )

    # lifecycle ---------------------------------------------------------------------
    def up(self, report: Report = _quiet, timeout: float = READY_TIMEOUT) -> float:
        """Build if missing, start if not running, wait for AMI + FullyBooted.

        Idempotent. Returns the seconds it took. Raises SandboxError saying what to do.
        """
        started = time.monotonic()
        if not self.is_built():
            self.build(report)
        if self.is_running():
            if ami_fully_booted(timeout=timeout):
                return time.monotonic() - started
            raise SandboxError(
                f"Asterisk is running (pid {self.pid()}) but AMI on "
                f"{configs.AMI_HOST}:{configs.AMI_PORT} does not answer: see "
                f"{self.console_log}; `implus sandbox asterisk down` and `up` again"
            )
        self._check_ports_free()
        self.write_base_configs()
        self._mount_proc()
        report(f"starting Asterisk in {self.root}")
        self._note("start")
        self._start_process()
        try:
            self._wait_ready(timeout)
        except SandboxError as e:
            # Seen once on a fresh CI machine right after a SIGKILL of the previous
            # Asterisk: the new one logged "PBX Core Initializing" and was gone. One more
            # start is what an admin would do; a second early exit is reported.
            if "exited while starting" not in str(e):
                raise
            if self.is_running():  # not gone after all: never a second one beside it
                self._wait_ready(timeout)
                return time.monotonic() - started
            report("Asterisk exited while starting; starting it once more")
            self._note(f"start again after an early exit: {str(e).splitlines()[0]}")
            self._start_process()
            self._wait_ready(timeout)
        return time.monotonic() - started

    def build(self, report: Report = _quiet) -> None:
        """Build the chroot (under a lock, so two processes never build at once)."""
        self.root.parent.mkdir(parents=True, exist_ok=True)
        build_lock = self.root.parent / f"{self.root.name}.build.lock"
        with open(build_lock, "a+") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                report("another process is building the sandbox; waiting for it")
                fcntl.flock(f, fcntl.LOCK_EX)
            if self.is_built():
                return
            if self.root.exists():
                report(f"{self.root} exists but is not a finished sandbox; rebuilding it")
                build.remove_tree(self.root)
            build.build_chroot(self.root, report)

    def down(self, report: Report = _quiet, timeout: float = 15.0) -> None:
        """Stop Asterisk cleanly (core stop now, then SIGTERM, SIGKILL) and unmount /proc."""
        pid = self.pid()
        if pid is not None:
            report(f"stopping Asterisk (pid {pid})")
            self._note(f"stop {pid}")
            with contextlib.suppress(SandboxError):  # a hung Asterisk does not answer
                self.cli("core stop now", check=False, timeout=5)
            if not self._wait_exit(pid, timeout / 2):
                report("Asterisk did not stop on `core stop now`; sending SIGTERM")
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
                if not self._wait_exit(pid, timeout / 2):
                    report("sending SIGKILL")
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                    self._wait_exit(pid, 5)
        if self.proc_mounted():
            subprocess.run(["umount", str(self.root / "proc")], check=False, capture_output=True)
            if self.proc_mounted():
                subprocess.run(["umount", "-l", str(self.root / "proc")], check=False)

    def kill(self) -> None:
        """SIGKILL Asterisk (tests: the PBX dies without a Shutdown event)."""
        pid = self.pid()
        if pid is not None:
            self._note(f"kill {pid}")
            os.kill(pid, signal.SIGKILL)
            self._wait_exit(pid, 10)

    def restart(self, report: Report = _quiet) -> float:
        """Stop and start again; returns the seconds `up` took."""
        self.down(report)
        return self.up(report)

    def hangup_all(self) -> None:
        """Hang up every live channel (a test starts with an idle PBX)."""
        self.cli("channel request hangup all")

    def reload(self) -> None:
        """Reload PJSIP, dialplan, manager, music on hold and queues from the config files."""
        for command in (
            "module reload res_pjsip.so",
            "dialplan reload",
            "manager reload",
            "moh reload",
            "module reload app_queue.so",
            "module reload http",
        ):
            self.cli(command)

    def cli(self, command: str, check: bool = True, timeout: float = 20) -> str:
        """Run one Asterisk CLI command (`asterisk -rx`) and return its output."""
        try:
            result = subprocess.run(
                ["chroot", str(self.root), "asterisk", "-rx", command],
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as e:
            raise SandboxError(f"`asterisk -rx {command!r}` did not return in {timeout} s") from e
        if check and result.returncode != 0:
            raise SandboxError(
                f"`asterisk -rx {command!r}` failed ({result.returncode}): "
                f"{(result.stderr or result.stdout).strip()}; is the sandbox up? "
                "(`implus sandbox asterisk status`)"
            )
        return result.stdout

    # locking -----------------------------------------------------------------------
    @contextlib.contextmanager
    def session_lock(self, report: Report = _quiet) -> Iterator[None]:
        """Hold the sandbox for one test session; other sessions wait here.

        The lock is inherited: a child process (e.g. `implus up --self-test` started by a
        test that holds it) finds its holder's pid in LOCK_PID_ENV and does not wait for
        its own parent."""
        inherited = os.environ.get(LOCK_PID_ENV, "")
        holder = self.lock_holder() or ""
        if inherited and holder.startswith(f"pid {inherited}:"):
            yield
            return
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a+") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                report(
                    f"waiting for the Asterisk sandbox: held by {self.lock_holder()} "
                    f"(lock {self.lock_path})"
                )
                fcntl.flock(f, fcntl.LOCK_EX)
            self._note("lock")
            f.seek(0)
            f.truncate()
            f.write(f"pid {os.getpid()}: {' '.join(_cmdline(os.getpid()))[:200]}\n")
            f.flush()
            os.environ[LOCK_PID_ENV] = str(os.getpid())
            try:
                yield
            finally:
                os.environ.pop(LOCK_PID_ENV, None)
                f.seek(0)
                f.truncate()
                f.flush()
                self._note("unlock")
                fcntl.flock(f, fcntl.LOCK_UN)

    def lock_holder(self) -> str | None:
        """Who holds the session lock right now (None when free)."""
        if not self.lock_path.exists():
            return None
        with open(self.lock_path, "a+") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                f.seek(0)
                return f.read().strip() or "another process"
            fcntl.flock(f, fcntl.LOCK_UN)
            return None

    # internals ---------------------------------------------------------------------
    def _check_ports_free(self, grace: float = 3.0) -> None:
        # A just-killed Asterisk's listening socket can linger for a moment (gVisor's
        # netstack closes it asynchronously): only a listener that stays is an error.
        deadline = time.monotonic() + grace
        while True:
            with socket.socket() as s:
                s.settimeout(1)
                busy = s.connect_ex((configs.AMI_HOST, configs.AMI_PORT)) == 0
            if not busy:
                return
            if time.monotonic() > deadline:
                raise SandboxError(
                    f"something else listens on {configs.AMI_HOST}:{configs.AMI_PORT} (AMI), "
                    "not this sandbox's Asterisk: stop it (another Asterisk? a sandbox in "
                    f"another ${ROOT_ENV}?) and run `implus sandbox asterisk up` again"
                )
            time.sleep(0.1)

    def _mount_proc(self) -> None:
        if self.proc_mounted():
            return
        (self.root / "proc").mkdir(exist_ok=True)
        result = subprocess.run(
            ["mount", "-t", "proc", "proc", str(self.root / "proc")],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise SandboxError(
                f"cannot mount /proc in the chroot ({result.stderr.strip()}): the sandbox "
                "needs root with CAP_SYS_ADMIN; run `sudo implus sandbox asterisk up`"
            )

    def _start_process(self) -> None:
        pidfile = self.root / "run/asterisk/asterisk.pid"
        pidfile.unlink(missing_ok=True)
        self.console_log.parent.mkdir(parents=True, exist_ok=True)
        # -F: Asterisk daemonizes, so it outlives the CLI or test session that started
        # it (and is never our zombie); `down` stops it by the pid in its pidfile.
        with open(self.console_log, "wb") as log:
            result = subprocess.run(
                ["chroot", str(self.root), "/usr/sbin/asterisk", "-F"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                timeout=30,
                check=False,
            )
        if result.returncode != 0:
            raise SandboxError(
                f"`chroot {self.root} asterisk -F` exited with {result.returncode}: "
                f"{self._console_tail()}"
            )

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pidfile_written = (self.root / "run/asterisk/asterisk.pid").exists()
            if pidfile_written and not self.is_running():
                raise SandboxError(
                    f"Asterisk exited while starting; last lines of {self.messages_log}:\n"
                    f"{self._console_tail()}"
                )
            if ami_fully_booted(timeout=min(2.0, max(0.1, deadline - time.monotonic()))):
                return
            time.sleep(0.1)
        raise SandboxError(
            f"Asterisk did not answer on AMI with FullyBooted within {timeout:.0f} s; last "
            f"lines of {self.console_log}:\n{self._console_tail()}\n"
            "run `implus sandbox asterisk down` and `up` again"
        )

    def _wait_exit(self, pid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            # not the pidfile: Asterisk deletes it early in shutdown, still serving AMI
            if not self._alive(pid):
                return True
            time.sleep(0.05)
        return False

    def _console_tail(self, lines: int = 15) -> str:
        out = []
        for log in (self.console_log, self.messages_log):
            with contextlib.suppress(OSError):
                text = log.read_text(encoding="utf-8", errors="replace")
                out += text.splitlines()[-lines:]
        return "\n".join(out) or "(no log output)"


def _cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [part.decode(errors="replace") for part in f.read().split(b"\0") if part]
    except OSError:
        return []
