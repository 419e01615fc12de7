"""Processes chrooted into a sandbox, seen from the host's /proc."""

from __future__ import annotations

import os
from pathlib import Path


def alive_in(pid: int, root: Path) -> bool:
    """Is `pid` a live (not zombie) process chrooted into `root`?"""
    try:
        if os.readlink(f"/proc/{pid}/root") != str(root):
            return False  # a reused pid, not ours
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def chrooted(root: Path, comm: str) -> int | None:
    """A live process named `comm` whose root is `root`, if any."""
    with os.scandir("/proc") as entries:
        pids = [int(e.name) for e in entries if e.name.isdigit()]
    for pid in pids:
        try:
            if os.readlink(f"/proc/{pid}/root") != str(root):
                continue
            with open(f"/proc/{pid}/comm", encoding="utf-8") as f:
                name = f.read().strip()
        except OSError:
            continue
        if name == comm and alive_in(pid, root):
            return pid
    return None
