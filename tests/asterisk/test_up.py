"""`implus up` (what `make demo` runs): the whole stack on the sandbox, checked by its own
self-test (a real SIP call to the booking line reaches alice's phone; the caller's chat
joins the call's session), and its refusals of bad set-ups."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from devstack import AsteriskSandbox


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _implus(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from router.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_up_starts_the_stack_and_routes_a_real_call(
    sandbox: AsteriskSandbox, tmp_path: Path
) -> None:
    state = tmp_path / "demo"
    run = _implus(
        "up", "--self-test", "--state", str(state),
        "--redis-port", str(_free_port()), "--chat-port", str(_free_port()),
    )  # fmt: skip
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    for step in ("redis:", "dialplan:", "phones:", "router:", "chat:", "ami-bridge: ready"):
        assert f"[implus up] {step}" in out, out
    assert "answered by alice" in out and "passed" in out, out
    logins = (state / "logins.txt").read_text().split()
    assert {"alice", "bob", "carol", "admin"} <= set(logins[::2])
    assert (state / "logins.txt").stat().st_mode & 0o077 == 0
    for password in logins[1::2]:  # printed once to the console, never into a log
        for log in (state / "logs").glob("*.log"):
            assert password not in log.read_text(errors="replace"), log
    # everything it started is gone: the ports are free again
    assert not any(line for line in _ps() if str(state) in line)


def test_up_runs_twice_in_a_row_like_make_demo(sandbox: AsteriskSandbox, tmp_path: Path) -> None:
    """`make demo` twice: the second `implus up` must not refuse the include files the first
    one wrote (nor those an older implus wrote without the generated-file header)."""
    state = tmp_path / "demo"
    # what an older `implus up` left in the sandbox: its own file, without the header
    (sandbox.etc / "pjsip_implus.conf").write_text("[1001]\ntype = aor\n", encoding="utf-8")
    for attempt in (1, 2):
        run = _implus(
            "up", "--self-test", "--state", str(state),
            "--redis-port", str(_free_port()), "--chat-port", str(_free_port()),
        )  # fmt: skip
        out = run.stdout + run.stderr
        assert run.returncode == 0, f"run {attempt}:\n{out}"
        assert "UnsafeOverwrite" not in out and "refusing to overwrite" not in out
        assert "passed" in out, out
        first_line = (sandbox.etc / "pjsip_implus.conf").read_text().splitlines()[0]
        assert "implus generated file" in first_line, first_line


def _ps() -> list[str]:
    return subprocess.run(
        ["ps", "-eo", "args"], capture_output=True, text=True, check=True
    ).stdout.splitlines()


def test_up_refuses_a_taken_port_and_says_what_to_do(
    sandbox: AsteriskSandbox, tmp_path: Path
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        run = _implus("up", "--state", str(tmp_path), "--redis-port", str(port), timeout=60)
    assert run.returncode == 1
    assert f"port {port} on 127.0.0.1 is taken" in run.stderr
    assert "--redis-port" in run.stderr


def test_sandbox_call_refuses_a_bad_extension() -> None:
    run = _implus("sandbox", "asterisk", "call", "8;00", timeout=30)
    assert run.returncode == 2
    assert "must be digits" in run.stderr
