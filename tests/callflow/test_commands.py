"""The router -> PBX command contract: parsing stream entries (both bridges read them so)."""

from __future__ import annotations

import pytest

from callflow import commands as cmd
from callflow.commands import BadCommand


def test_ring_agent_command_from_the_router_fields() -> None:
    command = cmd.parse_command(
        {
            "type": "ring_agent",
            "at": "1700000000123",
            "offer": "o1",
            "request": "r1",
            "session": "s1",
            "agent": "alice",
            "endpoint": "1001",
            "agent_pbx": "ast1",
            "call_id": "1700000000.12",
            "timeout": "19",
            "deadline": "1700000019623",
        }
    )
    assert command == cmd.RingAgent(
        offer="o1",
        request="r1",
        session="s1",
        agent="alice",
        endpoint="1001",
        agent_pbx="ast1",
        call_id="1700000000.12",
        timeout=19.0,
        deadline=1700000019623,
        at=1700000000123,
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"type": "dance"}, "unknown PBX command type 'dance'"),
        ({"type": "ring_agent", "offer": "o1"}, "missing request, call_id, agent"),
        (
            {"type": "overflow", "request": "r", "call_id": "1.2\r\nAction: Hangup"},
            "call_id='1.2\\r\\nAction: Hangup' has characters not allowed",
        ),
        (
            {"type": "click_to_call", "call": "c", "session": "s", "agent": "a", "number": "1,2"},
            "number='1,2' has characters not allowed",
        ),
        (
            {
                "type": "callback",
                "offer": "o",
                "request": "r",
                "agent": "a",
                "number": "5",
                "timeout": "soon",
            },
            "timeout must be a number",
        ),
    ],
)
def test_bad_commands_say_what_is_wrong(fields: dict[str, str], message: str) -> None:
    with pytest.raises(BadCommand) as info:
        cmd.parse_command(fields)
    assert message in str(info.value)


def test_call_control_and_supervise_commands() -> None:
    command = cmd.parse_command(
        {
            "type": "call_control",
            "at": "1700000000123",
            "call_id": "17.1",
            "request": "r1",
            "session": "s1",
            "agent": "alice",
            "by": "alice",
            "action": "consult",
            "target_kind": "agent",
            "target": "bob",
            "endpoint": "1002",
            "target_pbx": "ast1",
        }
    )
    assert isinstance(command, cmd.CallControl)
    assert (command.action, command.target, command.endpoint) == ("consult", "bob", "1002")
    spy = cmd.parse_command(
        {
            "type": "supervise",
            "call_id": "17.1",
            "request": "r1",
            "supervisor": "root",
            "mode": "barge",
        }
    )
    assert spy == cmd.Supervise(call_id="17.1", request="r1", supervisor="root", mode="barge")


@pytest.mark.parametrize(
    "target",
    ["555;1", "555&PJSIP/x", "${system(id)}", "1 2", "bob,1", "x\r\nAction: Originate", "a{b}"],
)
def test_call_control_values_that_pbx_commands_would_read_are_refused(target: str) -> None:
    """What reaches an AMI header, a dial string or an ESL command must be inert there: a
    router that sent it anyway (a bug, a forged stream entry) gets a BadCommand."""
    fields = {"type": "call_control", "call_id": "17.1", "request": "r1", "action": "consult"}
    with pytest.raises(BadCommand, match="has characters not allowed"):
        cmd.parse_command({**fields, "target_kind": "number", "target": target})
    with pytest.raises(BadCommand, match="has characters not allowed"):
        cmd.parse_command(
            {
                "type": "supervise",
                "call_id": "17.1",
                "request": "r",
                "supervisor": target,
                "mode": "x",
            }
        )
