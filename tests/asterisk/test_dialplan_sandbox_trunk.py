"""The outbound trunk's qualify setting on the real sandbox Asterisk: calls go out
before any qualify, pings really run when on, and nothing is refused when off."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from ami_tap import AmiTap
from dialplan_sandbox import AGENT_PORT, AMI_SECRET_ENV, config_dict, install, user_event

from devstack import AsteriskSandbox
from devstack.sipp import Sipp

pytestmark = pytest.mark.asterisk


def _trunk_contact_status(sandbox: AsteriskSandbox) -> str:
    for line in sandbox.cli("pjsip show contacts").splitlines():
        if "implus-trunk-carrier/" in line:
            return line.split()[3]
    raise AssertionError("no contact for implus-trunk-carrier")


def _call_out(tap: AmiTap, action_id: str) -> None:
    tap.send(
        {
            "Action": "Originate",
            "ActionID": action_id,
            "Channel": "PJSIP/1001",
            "Context": "implus-outbound",
            "Exten": "s",
            "Priority": "1",
            "Async": "true",
            "Timeout": "10000",
            "Variable": ["IMPLUS_DIAL=5550100", "IMPLUS_AGENT=alice"],
        }
    )


def _install_with_qualify(
    sandbox: AsteriskSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, qualify: int
) -> None:
    monkeypatch.setenv(AMI_SECRET_ENV, "dialplan-test-secret")
    data = config_dict(sandbox)
    data["trunks"][0]["qualify"] = qualify
    install(sandbox, tmp_path, data)


def test_never_qualified_trunk_dials_and_qualify_really_runs(
    sandbox: AsteriskSandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    tap: AmiTap,
    sipp: Sipp,
) -> None:
    """Right after a reload the carrier's static contact was never qualified (Asterisk
    pings first at a random time within the interval): the call goes out anyway. And the
    ping is really on: `qualify_frequency` is written before `contact=` (after it, Asterisk
    never qualifies the contact - verified: it stays NonQual)."""
    _install_with_qualify(sandbox, tmp_path, monkeypatch, 3600)
    assert "qualify_frequency    : 3600" in sandbox.cli("pjsip show aor implus-trunk-carrier")
    with (
        sipp.phone(AGENT_PORT, "answer", ring=0.2, talk=1.0) as agent,
        sipp.customer_phone("answer", ring=0.2, talk=0.5) as carrier,
    ):
        _call_out(tap, "never-qualified")
        result = carrier.wait(20)
        agent.wait(20)
    assert result.count("INVITE", "received") == 1, result.describe()
    assert result.count("OPTIONS", "received") == 0  # it was never qualified

    with sipp.customer_phone("answer") as carrier:  # answers OPTIONS (sipp -aa)
        _install_with_qualify(sandbox, tmp_path, monkeypatch, 1)
        deadline = time.monotonic() + 10
        while _trunk_contact_status(sandbox) != "Avail" and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _trunk_contact_status(sandbox) == "Avail"  # qualified on its own
        carrier.stop()


# 3600: Asterisk pings first at a random time within the interval, so no scheduled ping
# can be answered while this test runs
@pytest.mark.parametrize(("qualify", "reaches_carrier"), [(3600, False), (0, True)])
def test_qualify_off_keeps_calls_going_when_options_go_unanswered(
    sandbox: AsteriskSandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    tap: AmiTap,
    sipp: Sipp,
    qualify: int,
    reaches_carrier: bool,
) -> None:
    """The carrier does not answer an OPTIONS ping (down for a moment, or it ignores them).
    With qualify on, Asterisk marks the trunk Unavail and refuses calls at once ("Could
    not create dialog to invalid URI") until a later ping is answered - what the trial
    saw; `qualify: 0` never pings, so the next call goes out as soon as the carrier is up."""
    _install_with_qualify(sandbox, tmp_path, monkeypatch, qualify)
    sandbox.cli("pjsip qualify implus-trunk-carrier")  # nothing listens: no answer
    expected = "Unavail" if qualify else "NonQual"
    deadline = time.monotonic() + 10  # qualify_timeout is 3 s
    while _trunk_contact_status(sandbox) != expected and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _trunk_contact_status(sandbox) == expected
    with (
        sipp.phone(AGENT_PORT, "answer", ring=0.2, talk=1.0) as agent,
        sipp.customer_phone("answer", ring=0.2, talk=0.5) as carrier,
    ):
        assert _trunk_contact_status(sandbox) == expected  # no ping answered in between
        _call_out(tap, f"unanswered-{qualify}")
        tap.wait_for(user_event("ImplusOutbound", Trunk="carrier"))
        tap.wait_for(  # the agent's leg ends: after the call, or at once when refused
            lambda m: (
                m.get("Event") == ["Hangup"] and str(m.get("Channel")).startswith("['PJSIP/1001-")
            ),
            timeout=15,
        )
        carrier.stop()
        agent.stop()
        invites = carrier.result().count("INVITE", "received")
    assert invites == (1 if reaches_carrier else 0)
