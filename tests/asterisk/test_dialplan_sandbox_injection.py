"""Admin labels and names carrying Asterisk syntax (`#exec`, `${SHELL()}`, sections,
priorities, `;`) loaded into the real sandbox Asterisk: nothing executes."""

from __future__ import annotations

from pathlib import Path

import pytest
from ami_tap import AmiTap
from dialplan_sandbox import AGENT_PORT, AMI_SECRET_ENV, config_dict, install, user_event

from devstack import AsteriskSandbox
from devstack.sipp import Sipp
from dialplan.text import display_name

pytestmark = pytest.mark.asterisk


HOSTILE_LABEL = (
    "x\n#exec /bin/touch /tmp/implus-pwned-label\n[evil]\n"
    "exten => 800,1,System(/bin/touch /tmp/implus-pwned-system)"
)
HOSTILE_ENTRY_LABEL = "${SHELL(/bin/touch /tmp/implus-pwned-shell)} ;-- #include /etc/passwd"
HOSTILE_NAME = "Alice\n#exec /bin/touch /tmp/implus-pwned-name ${SHELL(/bin/touch /tmp/x)}; <>"
PWNED = ("implus-pwned-label", "implus-pwned-system", "implus-pwned-shell", "implus-pwned-name")


def _exec_includes_on(sandbox: AsteriskSandbox) -> None:
    """`execincludes` is read at start only: restart a sandbox started before it was set."""
    if "Executable includes:         Enabled" not in sandbox.cli("core show settings"):
        sandbox.restart()
    assert "Executable includes:         Enabled" in sandbox.cli("core show settings")


def test_hostile_labels_and_names_never_run_on_asterisk(
    sandbox: AsteriskSandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    sipp: Sipp,
) -> None:
    """Labels and agent names carrying `#exec`, `${SHELL(...)}`, sections and priorities are
    loaded into the real Asterisk and a call runs through them: nothing executes."""
    _exec_includes_on(sandbox)  # may restart Asterisk: the AMI tap comes after
    tap = AmiTap()
    try:
        _hostile_labels_and_names(sandbox, tmp_path, monkeypatch, tap, sipp)
    finally:
        tap.close()


def _hostile_labels_and_names(
    sandbox: AsteriskSandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    tap: AmiTap,
    sipp: Sipp,
) -> None:
    control = sandbox.chroot_path("/tmp/implus-exec-control")
    control.unlink(missing_ok=True)
    for name in PWNED:
        sandbox.chroot_path(f"/tmp/{name}").unlink(missing_ok=True)
    # Control: this Asterisk does run a `#exec` line of a config file, and has SHELL().
    sandbox.write_include("queues_implus.conf", "#exec /bin/touch /tmp/implus-exec-control\n")
    sandbox.cli("module reload app_queue.so")
    assert control.exists()
    assert "SHELL" in sandbox.cli("core show function SHELL")

    monkeypatch.setenv(AMI_SECRET_ENV, "dialplan-test-secret")
    data = config_dict(sandbox)
    data["services"][0]["label"] = HOSTILE_LABEL
    data["entry_points"][0]["label"] = HOSTILE_ENTRY_LABEL
    data["agents"][0]["name"] = HOSTILE_NAME
    data["agents"][0]["contact"] = f"sip:1001@127.0.0.1:{AGENT_PORT};transport=udp"
    install(sandbox, tmp_path, data)

    entry = sandbox.cli("dialplan show 800@implus-entry")
    assert "ImplusEntry" in entry
    assert "System" not in entry and "SHELL" not in entry
    assert "[evil]" not in sandbox.cli("dialplan show")
    endpoint = sandbox.cli("pjsip show endpoint 1001")
    assert f'"{display_name(HOSTILE_NAME)}" <1001>' in endpoint  # no ${, ;, <> or newline
    assert display_name(HOSTILE_NAME).startswith("Alice exec bin touch tmp implus-pwned-name")
    # the escaped ';' kept the contact's parameter (unescaped, it would start a comment)
    assert f"sip:1001@127.0.0.1:{AGENT_PORT};transport=udp" in sandbox.cli("pjsip show aor 1001")

    call = sipp.customer_call("800", caller="5550127", hold=1.0, max_seconds=15)
    tap.wait_for(user_event("ImplusEntry", User="5550127"))
    assert call.wait(20).ok
    for name in PWNED:
        assert not sandbox.chroot_path(f"/tmp/{name}").exists(), name
        assert not Path(f"/tmp/{name}").exists(), name
