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
