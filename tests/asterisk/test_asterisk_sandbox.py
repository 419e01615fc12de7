"""The sandbox's own contract: CLI, include files, reload, locking, interrupted builds."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from devstack import AsteriskSandbox, SandboxError, ami_fully_booted, build, configs
from devstack.sipp import Sipp
from router.cli import main as implus

pytestmark = pytest.mark.asterisk


def test_status_reports_a_running_sandbox(sandbox: AsteriskSandbox) -> None:
    result = CliRunner().invoke(implus, ["sandbox", "asterisk", "status"])
    assert result.exit_code == 0, result.output
    assert "asterisk: running, pid" in result.output
    assert "answers (FullyBooted)" in result.output
    assert f"lock:     pid {os.getpid()}" in result.output


def test_up_is_idempotent_when_running(sandbox: AsteriskSandbox) -> None:
    pid = sandbox.pid()
    result = CliRunner().invoke(implus, ["sandbox", "asterisk", "up"])
    assert result.exit_code == 0, result.output
    assert f"pid {pid}" in result.output
    assert "127.0.0.1:5038" in result.output
    assert sandbox.pid() == pid


def test_the_running_asterisk_is_found_without_its_pidfile(sandbox: AsteriskSandbox) -> None:
    """A start once read the pidfile while Asterisk wrote it, took the start for failed and
    started a second Asterisk, whose exit deleted the first one's pidfile: the sandbox then
    lost its own running Asterisk (CI at 9906fdf). It is found by its chroot now, and `up`
    neither starts another nor fails."""
    pid = sandbox.pid()
    assert pid is not None
    pidfile = sandbox.root / "run/asterisk/asterisk.pid"
    text = pidfile.read_text()
    try:
        pidfile.unlink()
        assert sandbox.pid() == pid
        pidfile.write_text("")  # being written
        assert sandbox.pid() == pid
        sandbox.up()
        assert sandbox.pid() == pid
    finally:
        pidfile.write_text(text)
    assert sandbox.pid() == pid


def test_down_refuses_while_a_test_session_holds_the_sandbox(sandbox: AsteriskSandbox) -> None:
    result = CliRunner().invoke(implus, ["sandbox", "asterisk", "down"])
    assert result.exit_code == 1
    assert "a test session is using the sandbox" in result.output
    assert "--force" in result.output
    assert sandbox.is_running()


def test_everything_listens_on_loopback_only(sandbox: AsteriskSandbox) -> None:
    pid = sandbox.pid()
    out = subprocess.run(["ss", "-Htlnp"], capture_output=True, text=True, check=True).stdout
    listening = [line.split()[3] for line in out.splitlines() if f"pid={pid}," in line]
    assert listening == ["127.0.0.1:5038"]
    sip = subprocess.run(["ss", "-Hulnp"], capture_output=True, text=True, check=True).stdout
    assert "127.0.0.1:5060" in sip
    # during a call, RTP (10000-20000) binds to loopback too (media_address on the endpoint)
    call = Sipp(sandbox).customer_call("9990", hold=1.5)
    deadline = time.monotonic() + 5
    rtp: list[str] = []
    while not rtp and time.monotonic() < deadline:
        udp = subprocess.run(["ss", "-Hulnp"], capture_output=True, text=True, check=True).stdout
        rtp = [
            line.split()[3]
            for line in udp.splitlines()
            if f"pid={pid}," in line and 10000 <= int(line.split()[3].rsplit(":", 1)[1]) <= 20000
        ]
        time.sleep(0.05)
    assert call.wait(20).ok
    assert rtp
    assert all(addr.startswith("127.0.0.1:") for addr in rtp), rtp


def test_include_files_are_written_and_reloaded(sandbox: AsteriskSandbox) -> None:
    sandbox.write_include(
        "extensions_implus.conf",
        "[implus-entry]\nexten => 4242,1,NoOp(written by a test)\n same => n,Hangup()\n",
    )
    sandbox.write_include(
        "pjsip_implus.conf",
        "[test-phone]\ntype = endpoint\ncontext = implus-agent\naors = test-phone\n"
        "[test-phone]\ntype = aor\ncontact = sip:test-phone@127.0.0.1:5999\n",
    )
    sandbox.reload()
    assert "written by a test" in sandbox.cli("dialplan show 4242@implus-entry")
    # customers reach generated entry points through the sandbox's inbound context
    assert "implus-entry" in sandbox.cli("dialplan show sandbox-inbound")
    assert "test-phone" in sandbox.cli("pjsip show endpoints")


def test_missing_and_empty_includes_are_tolerated(sandbox: AsteriskSandbox) -> None:
    for name in configs.INCLUDE_FILES:
        (sandbox.etc / name).unlink(missing_ok=True)
    sandbox.reload()
    assert "9990" in sandbox.cli("dialplan show sandbox-test")
    sandbox.reset_includes()
    sandbox.reload()
    assert ami_fully_booted()


def test_only_include_files_can_be_written(sandbox: AsteriskSandbox) -> None:
    with pytest.raises(SandboxError, match=r"extensions_implus\.conf"):
        sandbox.write_include("extensions.conf", "[oops]\n")


def test_session_lock_is_held_for_this_test_session(sandbox: AsteriskSandbox) -> None:
    assert sandbox.lock_holder() is not None
    assert sandbox.lock_holder().startswith(f"pid {os.getpid()}:")
    # another process cannot take it without waiting
    probe = (
        "import fcntl, sys\n"
        f"f = open({str(sandbox.lock_path)!r}, 'a+')\n"
        "try:\n    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
        "except BlockingIOError:\n    sys.exit(7)\n"
    )
    assert subprocess.run([sys.executable, "-c", probe], check=False).returncode == 7


def test_an_interrupted_build_is_removed_not_used(tmp_path: Path) -> None:
    target = tmp_path / "asterisk-sid"
    stale = tmp_path / "asterisk-sid.building-999999"
    (stale / "etc").mkdir(parents=True)
    box = AsteriskSandbox(root=target)
    assert not box.is_built()  # a half-built folder is never "built"
    build.remove_stale_builds(target, report=lambda _: None)
    assert not stale.exists()
    target.mkdir()
    assert not box.is_built()


def test_missing_debootstrap_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(SandboxError, match="apt-get install debootstrap"):
        build.check_can_build()
