"""The generated Asterisk configuration on the real sandbox Asterisk 22.

`implus dialplan apply` writes the include files into the sandbox's /etc/asterisk and
reloads over AMI as the user it generated; then real SIP calls (sipp) go through the
generated contexts and the contract's AMI events are checked (docs/call-flow.md).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from ami_tap import AmiTap
from click.testing import CliRunner
from dialplan_sandbox import AGENT_PORT, AMI_SECRET_ENV, config_dict, load_config, user_event

from ami_bridge.reload import AmiReloader
from devstack import AsteriskSandbox
from devstack.sipp import Sipp
from dialplan.apply import apply
from dialplan.rendering import select_pbx
from router.cli import main

pytestmark = pytest.mark.asterisk


def test_apply_reloads_over_ami_and_reapply_changes_nothing(
    sandbox: AsteriskSandbox, installed: dict[str, Any], tmp_path: Path
) -> None:
    shown = sandbox.cli("dialplan show implus-entry")
    assert "UserEvent(ImplusEntry,Service: booking,Entry: booking_en" in shown
    assert "MusicOnHold(default,32)" in shown
    user = sandbox.cli("manager show user implus_dialplan")
    assert "write perm: system,call,agent,user,reporting,originate" in user
    endpoint = sandbox.cli("pjsip show endpoint 1001")
    assert '"Alice evil" <1001>' in endpoint  # the name's ; < > were dropped

    installed["entry_points"][0]["max_wait"] = 45
    config = load_config(tmp_path, installed)
    result = apply(config, select_pbx(config, "sandbox"), AmiReloader())
    assert [c.path for c in result.plan.changed] == ["extensions_implus.conf"]
    # the fixture's apply did not reload (the admin reloaded by hand): that is still owed
    assert result.reloaded == ["reloaded pbx_config", "reloaded res_pjsip.so", "reloaded manager"]
    assert "MusicOnHold(default,47)" in sandbox.cli("dialplan show 800@implus-entry")

    installed["entry_points"][0]["max_wait"] = 46
    config = load_config(tmp_path, installed)
    result = apply(config, select_pbx(config, "sandbox"), AmiReloader())
    assert result.reloaded == ["reloaded pbx_config"]  # only what changed
    assert "MusicOnHold(default,48)" in sandbox.cli("dialplan show 800@implus-entry")

    run = CliRunner().invoke(
        main, ["dialplan", "apply", "--config", str(tmp_path / "admin.yaml"), "--pbx", "sandbox"]
    )
    assert run.exit_code == 0, run.output
    assert run.output == f"sandbox: nothing to change - 3 file(s) in {sandbox.etc} are up to date\n"


def test_check_reads_the_sandbox_config_and_finds_every_include(
    sandbox: AsteriskSandbox, installed: dict[str, Any], tmp_path: Path
) -> None:
    """The PBX's `config_dir` is the sandbox's /etc/asterisk: `check` reads how it includes
    the generated files (`#tryinclude`, `include => implus-entry`) and finds them all;
    without the manager include it says what to add."""
    path = str(tmp_path / "admin.yaml")
    run = CliRunner().invoke(main, ["dialplan", "check", "--config", path])
    assert run.exit_code == 0, run.output
    assert "warning" not in run.output, run.output
    manager = sandbox.etc / "manager.conf"
    original = manager.read_text()
    try:
        manager.write_text(original.replace("#tryinclude manager_implus.conf", ""))
        run = CliRunner().invoke(main, ["dialplan", "check", "--config", path])
    finally:
        manager.write_text(original)
    assert (
        f"{manager}: warning: pbxs[0]: manager_implus.conf is not included by manager.conf"
    ) in run.output


def test_apply_says_what_to_do_when_extensions_are_not_included(
    sandbox: AsteriskSandbox, installed: dict[str, Any], tmp_path: Path
) -> None:
    installed["entry_points"][0]["max_wait"] = 50
    config = load_config(tmp_path, installed)
    renamed = tmp_path / "etc"  # a folder Asterisk does not read: the dialplan is not there
    (sandbox.etc / "extensions_implus.conf").write_text("")
    sandbox.cli("dialplan reload")
    from admin_config.errors import ReloadFailed

    with pytest.raises(ReloadFailed, match=re.escape("add `#include extensions_implus.conf`")):
        apply(config, select_pbx(config, "sandbox"), AmiReloader(), dest=renamed)


def test_customer_call_raises_implus_entry(
    installed: dict[str, Any], tap: AmiTap, sipp: Sipp
) -> None:
    call = sipp.customer_call("800", caller="5550123", hold=1.0, max_seconds=15)
    event = tap.wait_for(user_event("ImplusEntry", Entry="booking_en"))
    assert event["Service"] == ["booking"]
    assert event["User"] == ["5550123"]
    assert event["MaxWait"] == ["30"]
    assert event["Language"] == ["en", "en"]  # channel snapshot + ours
    # Reached through `include => implus-entry`: the snapshot names the including context.
    assert (event["Context"], event["Exten"]) == (["sandbox-inbound"], ["800"])
    result = call.wait(20)
    assert result.ok, result.describe()


def test_user_set_before_the_entry_is_kept_filtered_and_entry_variables_are_set(
    installed: dict[str, Any], tap: AmiTap
) -> None:
    """An IMPLUS_USER the admin's dialplan set before the Goto (here: an Originate's
    variable, carried by the Local channel) is kept over the caller number, filtered; its
    ':' and '?' never reach IF (which picks a variable NAME). The one MSet sets every
    entry variable and both CHANNEL() functions."""
    tap.send(
        {
            "Action": "Originate",
            "ActionID": "dialplan-preset-user",
            "Channel": "Local/800@implus-entry/n",
            "Application": "Wait",
            "Data": "3",
            "Async": "true",
            "CallerID": "5550199",
            "Variable": ["IMPLUS_USER=acct:42?x ${SHELL(id)}"],
        }
    )
    event = tap.wait_for(user_event("ImplusEntry", Entry="booking_en"))
    assert event["User"] == ["acct42xSHELLid"]
    channel = event["Channel"][0]
    expected = {
        "IMPLUS_SERVICE": "booking",
        "IMPLUS_ENTRY": "booking_en",
        "IMPLUS_LANGUAGE": "en",
        "IMPLUS_MAXWAIT": "30",
        "IMPLUS_EXTEN": "800",
        "CHANNEL(language)": "en",
        "CHANNEL(musicclass)": "default",
    }
    for n, name in enumerate(expected):
        tap.send(
            {"Action": "Getvar", "ActionID": f"getvar-{n}", "Channel": channel, "Variable": name}
        )
    got = {
        name: tap.wait_for(lambda m, n=n: m.get("ActionID") == [f"getvar-{n}"]).get("Value")
        for n, name in enumerate(expected)
    }
    assert got == {name: [value] for name, value in expected.items()}
    tap.send({"Action": "Hangup", "Channel": channel})


def test_caller_number_is_filtered_before_the_user_event(
    installed: dict[str, Any], tap: AmiTap
) -> None:
    """No IMPLUS_USER set: the caller number, filtered - its ',' cannot forge a header."""
    tap.send(
        {
            "Action": "Originate",
            "ActionID": "dialplan-hostile-number",
            "Channel": "Local/800@implus-entry/n",
            "Application": "Wait",
            "Data": "3",
            "Async": "true",
            "CallerID": '"x" <555,Service: evil?a:b>',
        }
    )
    event = tap.wait_for(user_event("ImplusEntry", Entry="booking_en"))
    assert event["User"] == ["555Serviceevilab"]
    assert event["Service"] == ["booking"]
    tap.send({"Action": "Hangup", "Channel": event["Channel"][0]})


def test_connect_rings_the_agent_from_the_caller_and_ends_the_call(
    installed: dict[str, Any], tap: AmiTap, sipp: Sipp
) -> None:
    with sipp.phone(AGENT_PORT, "answer", ring=0.3, talk=1.0) as agent:
        call = sipp.customer_call("800", caller="5550124", hold=None, max_seconds=20)
        entry = tap.wait_for(user_event("ImplusEntry", User="5550124"))
        caller = entry["Uniqueid"][0]
        for name, value in (("IMPLUS_AGENT_DIAL", "PJSIP/1001"), ("IMPLUS_RING", "10")):
            tap.send({"Action": "Setvar", "Channel": caller, "Variable": name, "Value": value})
        tap.send(
            {
                "Action": "Redirect",
                "ActionID": "connect-1",
                "Channel": caller,
                "Context": "implus-connect",
                "Exten": "s",
                "Priority": "1",
            }
        )
        dial = tap.wait_for(
            lambda m: m.get("Event") == ["DialBegin"] and m.get("Uniqueid") == [caller]
        )
        assert dial["DialString"] == ["1001"]  # the resource part of PJSIP/1001
        answered = tap.wait_for(
            lambda m: m.get("Event") == ["DialEnd"] and m.get("Uniqueid") == [caller]
        )
        assert answered["DialStatus"] == ["ANSWER"]
        tap.wait_for(lambda m: m.get("Event") == ["BridgeEnter"] and m.get("Uniqueid") == [caller])
        hangup = tap.wait_for(
            lambda m: m.get("Event") == ["Hangup"] and m.get("Uniqueid") == [caller], timeout=15
        )
        assert agent.wait(20).ok
        customer = call.wait(20)
    # The agent hung up: the caller was hung up too (Dial without g), never overflowed,
    # and no channel was left behind (no Surrogate from a yank).
    assert customer.ok, customer.describe()
    assert customer.count("BYE", "received") == 1
    assert hangup["Context"] == ["implus-connect"]
    assert not [m for m in tap.messages() if m.get("UserEvent") == ["ImplusOverflow"]]


def test_no_answer_takes_the_caller_back_on_hold(
    installed: dict[str, Any], tap: AmiTap, sipp: Sipp
) -> None:
    with sipp.phone(AGENT_PORT, "no_answer") as agent:
        call = sipp.customer_call("800", caller="5550126", hold=3.0, max_seconds=20)
        entry = tap.wait_for(user_event("ImplusEntry", User="5550126"))
        caller = entry["Uniqueid"][0]
        for name, value in (("IMPLUS_AGENT_DIAL", "PJSIP/1001"), ("IMPLUS_RING", "1.2")):
            tap.send({"Action": "Setvar", "Channel": caller, "Variable": name, "Value": value})
        tap.send(
            {
                "Action": "Redirect",
                "Channel": caller,
                "Context": "implus-connect",
                "Exten": "s",
                "Priority": "1",
            }
        )
        ended = tap.wait_for(
            lambda m: m.get("Event") == ["DialEnd"] and m.get("Uniqueid") == [caller]
        )
        assert ended["DialStatus"] == ["NOANSWER"]
        # back at the hold step of the number it dialled (a label, via IMPLUS_EXTEN)
        tap.wait_for(
            lambda m: (
                m.get("Event") == ["Newexten"]
                and m.get("Uniqueid") == [caller]
                and m.get("Application") == ["MusicOnHold"]
                and m.get("Context") == ["implus-entry"]
            )
        )
        assert call.wait(20).ok
        agent.wait(20)


def test_unattended_caller_overflows_on_its_own(
    installed: dict[str, Any], tap: AmiTap, sipp: Sipp
) -> None:
    call = sipp.customer_call("801", caller="5550125", hold=None, max_seconds=20)
    event = tap.wait_for(user_event("ImplusOverflow", Entry="quick"), timeout=15)
    assert event["Destination"] == ["extension"]
    tap.wait_for(
        lambda m: (
            m.get("Event") == ["Newexten"]
            and m.get("Context") == ["sandbox-test"]
            and m.get("Extension") == ["9991"]
        )
    )
    result = call.wait(20)
    assert result.ok, result.describe()
    assert result.count("BYE", "received") == 1  # 9991 hangs up after a second


def test_outbound_call_filters_the_number_and_uses_the_trunk(
    installed: dict[str, Any], tap: AmiTap, sipp: Sipp
) -> None:
    with (
        sipp.phone(AGENT_PORT, "answer", ring=0.2, talk=2.0) as agent,
        sipp.customer_phone("answer", ring=0.2, talk=0.5) as customer,
    ):
        tap.send(
            {
                "Action": "Originate",
                "ActionID": "dialplan-outbound-1",
                "Channel": "PJSIP/1001",
                "Context": "implus-outbound",
                "Exten": "s",  # the PBX's default trunk
                "Priority": "1",
                "Async": "true",
                "Timeout": "10000",
                # A "call me" number from a web form, with an injection attempt (no ',':
                # AMI itself splits Variable values at commas).
                "Variable": ["IMPLUS_DIAL=+49 (30) 6&PJSIP/7@customers", "IMPLUS_AGENT=alice"],
            }
        )
        event = tap.wait_for(user_event("ImplusOutbound", Trunk="carrier"))
        assert event["Dial"] == ["+493067"]
        result = customer.wait(20)
        agent.wait(20)
    invites = [m for m in result.messages if m.method == "INVITE"]
    assert len(invites) == 1
    assert invites[0].first_line.startswith("INVITE sip:9+493067@127.0.0.2:5070")


def test_first_apply_explains_the_manager_include(
    sandbox: AsteriskSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before manager_implus.conf is loaded, the AMI user does not exist: apply writes the
    files and then says what to do once, instead of failing obscurely."""
    from admin_config.errors import ReloadFailed

    monkeypatch.setenv(AMI_SECRET_ENV, "dialplan-test-secret")
    data = config_dict(sandbox)
    data["pbxs"][0]["username"] = "implus_not_loaded_yet"
    config = load_config(tmp_path, data)
    with pytest.raises(ReloadFailed) as info:
        apply(config, select_pbx(config, "sandbox"), AmiReloader())
    message = str(info.value)
    assert "implus_not_loaded_yet" in message
    assert "add `#include manager_implus.conf` at the end of manager.conf" in message
    assert "dialplan-test-secret" not in message
    assert (sandbox.etc / "manager_implus.conf").read_text().startswith("; implus generated")

    # The admin does what the message says (the sandbox already includes the file), and
    # applies again: no file changes, but the reload the first apply owes happens now.
    missing = sandbox.cli("dialplan show implus-entry", check=False)
    assert "There is no existence of 'implus-entry' context" in missing
    sandbox.cli("manager reload")
    path = tmp_path / "admin.yaml"
    run = CliRunner().invoke(
        main, ["dialplan", "apply", "--config", str(path), "--pbx", "sandbox", "-q"]
    )
    assert run.exit_code == 0, run.output
    assert run.output.splitlines() == [
        f"sandbox: nothing to change - 3 file(s) in {sandbox.etc} are up to date",
        "still owed by an earlier apply: reload pbx_config; reload res_pjsip.so; reload manager",
        "reloaded pbx_config",
        "reloaded res_pjsip.so",
        "reloaded manager",
    ]
    assert "UserEvent(ImplusEntry" in sandbox.cli("dialplan show 800@implus-entry")
    run = CliRunner().invoke(main, ["dialplan", "apply", "--config", str(path), "--pbx", "sandbox"])
    assert run.output == f"sandbox: nothing to change - 3 file(s) in {sandbox.etc} are up to date\n"
