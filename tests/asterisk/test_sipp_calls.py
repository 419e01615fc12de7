"""Real SIP calls through the sandbox Asterisk with sipp, observed on AMI."""

from __future__ import annotations

import pytest
from ami_tap import AmiTap

from devstack import AsteriskSandbox
from devstack.sipp import Sipp, agent_endpoint_config
from devstack.sipp_results import parse_message_log

pytestmark = pytest.mark.asterisk

AGENT_DIAL = """
[implus-agent]
exten => _X.,1,Dial(PJSIP/${EXTEN},${IF($[${LEN(${RING})}>0]?${RING}:10)},g)
 same => n,UserEvent(TestDialResult,Status: ${DIALSTATUS})
 same => n,Hangup()

[implus-entry]
exten => _70XX,1,Set(RING=2)
 same => n,Goto(implus-agent,10${EXTEN:2},1)
"""


def _reachable(sandbox: AsteriskSandbox, tap: AmiTap, aor: str) -> None:
    """Qualify now instead of waiting for the next OPTIONS round."""
    sandbox.cli(f"pjsip qualify {aor}")
    tap.wait_for(
        lambda m: (
            m.get("Event") == ["ContactStatus"]
            and m.get("AOR") == [aor]
            and m.get("ContactStatus") == ["Reachable"]
        )
    )


def _dial_result(tap: AmiTap, caller: str) -> str:
    event = tap.wait_for(
        lambda m: m.get("UserEvent") == ["TestDialResult"] and m.get("CallerIDNum") == [caller]
    )
    return event["Status"][0]


def test_customer_call_raises_user_event(tap: AmiTap, sipp: Sipp) -> None:
    result = sipp.customer_call("9990", caller="5550100", hold=1.0).wait(20)
    assert result.ok, result.describe()
    assert [m.method for m in result.messages if m.direction == "sent"] == ["INVITE", "ACK", "BYE"]
    event = tap.wait_for(lambda m: m.get("UserEvent") == ["SandboxCall"])
    assert event["Caller"] == ["5550100"]
    assert event["Context"] == ["sandbox-inbound"]
    hangup = tap.wait_for(
        lambda m: m.get("Event") == ["Hangup"] and m.get("Uniqueid") == event["Uniqueid"]
    )
    # Fact the bridge relies on: a caller's BYE (no Reason header) during the hold step
    # gives Cause 0 "Unknown" at the hold priority; Hangup() in the dialplan gives 16.
    assert (hangup["Cause"], hangup["Priority"]) == (["0"], ["3"])


def test_customer_waits_for_far_end_hangup(sipp: Sipp) -> None:
    result = sipp.customer_call("9991", hold=None, max_seconds=10).wait(20)
    assert result.ok, result.describe()
    assert result.count("BYE", "received") == 1
    assert result.count("BYE", "sent") == 0


def test_agent_phone_with_static_contact_answers(
    sandbox: AsteriskSandbox, tap: AmiTap, sipp: Sipp
) -> None:
    sandbox.write_include("pjsip_implus.conf", agent_endpoint_config("1001", 5071))
    sandbox.write_include("extensions_implus.conf", AGENT_DIAL)
    sandbox.reload()
    with sipp.phone(5071, "answer", ring=0.3, talk=0.5) as phone:
        _reachable(sandbox, tap, "1001")
        caller = sipp.customer_call("7001", caller="5550101", hold=None, max_seconds=15)
        assert _dial_result(tap, "5550101") == "ANSWER"
        agent = phone.wait(20)
        customer = caller.wait(20)
    assert agent.ok, agent.describe()
    assert agent.count("INVITE", "received") == 1
    assert agent.count("BYE", "sent") == 1  # the agent hung up after talking
    assert customer.ok, customer.describe()


def test_busy_and_unanswered_agent_phones(
    sandbox: AsteriskSandbox, tap: AmiTap, sipp: Sipp
) -> None:
    sandbox.write_include(
        "pjsip_implus.conf",
        agent_endpoint_config("1003", 5073) + agent_endpoint_config("1004", 5074),
    )
    sandbox.write_include("extensions_implus.conf", AGENT_DIAL)
    sandbox.reload()
    with sipp.phone(5073, "busy") as busy, sipp.phone(5074, "no_answer") as silent:
        _reachable(sandbox, tap, "1003")
        _reachable(sandbox, tap, "1004")
        c1 = sipp.customer_call("7003", caller="5550103", hold=None, max_seconds=15)
        c2 = sipp.customer_call("7004", caller="5550104", hold=None, max_seconds=15)
        assert _dial_result(tap, "5550103") == "BUSY"
        assert _dial_result(tap, "5550104") == "NOANSWER"
        busy_result, silent_result = busy.wait(20), silent.wait(20)
        c1.wait(20), c2.wait(20)
    assert busy_result.ok, busy_result.describe()
    assert busy_result.count("486", "sent") == 1
    assert silent_result.ok, silent_result.describe()
    assert silent_result.count("CANCEL", "received") == 1


def test_registered_agent_answers_and_unregistered_is_unavailable(
    sandbox: AsteriskSandbox, tap: AmiTap, sipp: Sipp
) -> None:
    sandbox.write_include("pjsip_implus.conf", agent_endpoint_config("1002"))
    sandbox.write_include("extensions_implus.conf", AGENT_DIAL)
    sandbox.reload()
    # not registered: Asterisk cannot ring it at all
    sipp.customer_call("7002", caller="5550102", hold=None, max_seconds=10).wait(20)
    assert _dial_result(tap, "5550102") == "CHANUNAVAIL"
    with sipp.phone(5072, "answer", ring=0.2, talk=0.3) as phone:
        sipp.register("1002", 5072, expires=60)
        caller = sipp.customer_call("7002", caller="5550112", hold=None, max_seconds=15)
        assert _dial_result(tap, "5550112") == "ANSWER"
        assert phone.wait(20).ok
        caller.wait(20)
    sipp.register("1002", 5072, expires=0)


def test_originate_reaches_the_customer_phone(tap: AmiTap, sipp: Sipp) -> None:
    with sipp.customer_phone("answer", ring=0.2, talk=0.5) as customer:
        tap.send(
            {
                "Action": "Originate",
                "ActionID": "test-originate-1",
                "Channel": "PJSIP/5551234@customers",
                "Context": "sandbox-test",
                "Exten": "9991",
                "Priority": "1",
                "Async": "true",
                "ChannelId": "test-originate-leg-1",
            }
        )
        response = tap.wait_for(lambda m: m.get("Event") == ["OriginateResponse"])
        result = customer.wait(20)
    assert response["Reason"] == ["4"], response  # 4 = answered
    assert response["Uniqueid"] == ["test-originate-leg-1"]
    assert result.ok, result.describe()
    invite = next(m for m in result.messages if m.method == "INVITE")
    assert invite.first_line.startswith("INVITE sip:5551234@127.0.0.2:5070")


def test_a_talking_phone_answers_the_far_end_hanging_up_first(tap: AmiTap, sipp: Sipp) -> None:
    """A phone that would hang up after talking for 5 s, whose far end (9991) hangs up after
    1 s, answers that BYE and counts a good call: sipp used to abort it unanswered, and
    Asterisk retransmitted the BYE to the port for 32 s, where the next phone took it for a
    failed call of its own (CI at 2908982: a two-call phone exited after one)."""
    with sipp.customer_phone("answer", ring=0.1, talk=5.0) as customer:
        tap.send(
            {
                "Action": "Originate",
                "ActionID": "test-originate-far-bye",
                "Channel": "PJSIP/5551234@customers",
                "Context": "sandbox-test",
                "Exten": "9991",
                "Priority": "1",
                "Async": "true",
            }
        )
        result = customer.wait(20)
    assert result.ok, result.describe()
    assert (result.successful, result.failed) == (1, 0), result.describe()
    assert result.count("BYE", "received") == 1, result.describe()
    assert result.count("BYE", "sent") == 0, result.describe()
    # the BYE answered: the next message the phone sent is a 200 (an OPTIONS ping of the
    # customers' endpoint may come in between and get its own)
    after_bye = result.messages[[m.method for m in result.messages].index("BYE") + 1 :]
    assert [m.method for m in after_bye if m.direction == "sent"][:1] == ["200"], result.describe()


def test_message_log_parsing() -> None:
    log = (
        "----------------------------------------------- 2026-11-25T05:27:29.030195Z\n"
        "UDP message sent [513] bytes:\n\nINVITE sip:100@127.0.0.1:5060 SIP/2.0\n"
        "Call-ID: 1-18570@127.0.0.2\nCSeq: 1 INVITE\n\n"
        "----------------------------------------------- 2026-11-25T05:27:29.030919Z\n"
        "UDP message received [300] bytes:\n\nSIP/2.0 486 Busy Here\nCall-ID: 1-18570@127.0.0.2\n"
    )
    sent, received = parse_message_log(log)
    assert (sent.direction, sent.method, sent.call_id) == ("sent", "INVITE", "1-18570@127.0.0.2")
    assert (received.direction, received.method) == ("received", "486")
