"""Building the Debian sid chroot that holds Asterisk 22 and sipp.

The chroot is built into a temporary sibling folder and renamed into place only when
debootstrap and the fix-ups have all succeeded, so an interrupted build is never
mistaken for a good one; the next build removes the leftovers.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from .errors import SandboxError

PACKAGES = ("asterisk", "asterisk-config", "asterisk-modules", "sip-tester")
SUITE = "sid"
#: Written last into a finished chroot; its presence is what "built" means.
MARKER = ".implus-sandbox"

#: Folders Debian's asterisk package gives to the `asterisk` user. Root in these
#: sandboxes has no DAC override, so root-run Asterisk must own them.
ASTERISK_DIRS = (
    "etc/asterisk",
    "var/lib/asterisk",
    "var/log/asterisk",
    "var/spool/asterisk",
    "var/cache/asterisk",
    "run/asterisk",
    "usr/share/asterisk",
)

Progress = Callable[[str], None]


def check_can_build() -> str:
    """Return the debootstrap path, or raise SandboxError saying what to install/do."""
    if os.geteuid() != 0:
        raise SandboxError(
            "building the Asterisk sandbox needs root (debootstrap, chroot, mount): "
            "run `sudo implus sandbox asterisk up`"
        )
    exe = shutil.which("debootstrap")
    if exe is None:
        raise SandboxError(
            "debootstrap is not installed: run `apt-get install debootstrap` "
            "(or `make deps`), then `implus sandbox asterisk up` again"
        )
    return exe


def mounts_under(path: Path) -> list[Path]:
    """Mount points at or below `path`, deepest first (so they can be unmounted in order)."""
    root = str(path.resolve())
    found = []
    with open("/proc/mounts", encoding="utf-8") as f:
        for line in f:
            target = line.split()[1].replace("\\040", " ")
            if target == root or target.startswith(root + "/"):
                found.append(Path(target))
    return sorted(found, key=lambda p: len(p.parts), reverse=True)


def unmount_all(path: Path) -> None:
    """Unmount everything mounted inside `path` (proc/sys left by an interrupted build)."""
    for mount in mounts_under(path):
        subprocess.run(["umount", "-l", str(mount)], check=False, capture_output=True)


def remove_tree(path: Path) -> None:
    """Delete a (partial) chroot, never following into a still-mounted /proc."""
    unmount_all(path)
    if mounts_under(path):
        raise SandboxError(f"cannot unmount everything under {path}; unmount it by hand")
    shutil.rmtree(path, ignore_errors=True)


def remove_stale_builds(target: Path, report: Progress) -> None:
    """Delete what interrupted builds of `target` left (call only under the build lock)."""
    for stale in target.parent.glob(f"{target.name}.building-*"):
        report(f"removing an interrupted build: {stale}")
        remove_tree(stale)


class _ProgressReporter:
    """Turns debootstrap's `I: ...` lines into a few stage lines a person can follow."""

    STAGES = (
        ("Retrieving InRelease", "fetching the package index"),
        ("Retrieving Packages", "fetching the package index"),
        ("Validating Packages", "fetching the package index"),
        ("Resolving dependencies", "resolving dependencies"),
        ("Retrieving ", "downloading packages"),
        ("Extracting ", "extracting packages"),
        ("Installing core packages", "installing core packages"),
        ("Unpacking required packages", "unpacking required packages"),
        ("Configuring required packages", "configuring required packages"),
        ("Unpacking the base system", "unpacking Asterisk and the rest"),
        ("Configuring the base system", "configuring Asterisk and the rest"),
        ("Base system installed successfully", "base system installed"),
    )

    def __init__(self, report: Progress) -> None:
        self.report = report
        self.stage = ""
        self.count = 0
        self.started = time.monotonic()

    def feed(self, line: str) -> None:
        text = line.removeprefix("I: ").strip()
        for prefix, stage in self.STAGES:
            if text.startswith(prefix):
                if stage != self.stage:
                    self.stage, self.count = stage, 0
                    self.report(f"  [{self._elapsed()}] {stage}")
                self.count += 1
                if self.count % 50 == 0:
                    self.report(f"  [{self._elapsed()}] {stage}: {self.count} so far")
                return
        if line.startswith(("E:", "W:")):
            self.report(f"  debootstrap: {line.strip()}")

    def _elapsed(self) -> str:
        return f"{time.monotonic() - self.started:5.1f}s"


def build_chroot(target: Path, report: Progress) -> None:
    """Build the chroot at `target` (which must not exist yet), reporting progress."""
    exe = check_can_build()
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_builds(target, report)
    tmp = target.parent / f"{target.name}.building-{os.getpid()}"
    log_path = target.parent / f"{target.name}.build.log"
    cmd = [exe, "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE, str(tmp)]
    report(f"building the Asterisk sandbox in {target} (about 1-2 minutes)")
    report(f"  $ {' '.join(cmd)}   (full log: {log_path})")
    progress = _ProgressReporter(report)
    tail: list[str] = []
    try:
        with open(log_path, "w", encoding="utf-8") as log:
            proc = subprocess.Popen(
                cmd,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                text=True,
                errors="replace",
            )
            assert proc.stdout is not None
            for line in proc.stdout:
                log.write(line)
                tail = [*tail[-19:], line.rstrip()]
                progress.feed(line)
            code = proc.wait()
        if code != 0:
            raise SandboxError(
                f"debootstrap failed with exit code {code}; last lines:\n  "
                + "\n  ".join(tail)
                + f"\nfull log: {log_path} (and {tmp}/debootstrap/debootstrap.log). "
                "Check that Debian's mirror is reachable (`apt-get update`), then run "
                "`implus sandbox asterisk up` again."
            )
        report(f"  [{progress._elapsed()}] fixing ownership and cleaning the package cache")
        _finish(tmp)
        tmp.rename(target)
    except BaseException:
        remove_tree(tmp)
        raise
    report(f"sandbox built in {time.monotonic() - progress.started:.0f} s")


def _finish(root: Path) -> None:
    unmount_all(root)  # debootstrap may leave proc/sys mounted in the target
    for d in ASTERISK_DIRS:
        (root / d).mkdir(parents=True, exist_ok=True)
        subprocess.run(["chown", "-R", "root:root", str(root / d)], check=True)
    subprocess.run(["chroot", str(root), "apt-get", "clean"], check=False, capture_output=True)
    version = subprocess.run(
        ["chroot", str(root), "asterisk", "-V"], capture_output=True, text=True, check=False
    ).stdout.strip()
    if not version.startswith("Asterisk"):
        raise SandboxError(f"the chroot has no working asterisk binary (asterisk -V: {version!r})")
    (root / MARKER).write_text(
        f"{version}\nbuilt {time.strftime('%Y-%m-%d %H:%M:%S')}\n", encoding="utf-8"
    )
