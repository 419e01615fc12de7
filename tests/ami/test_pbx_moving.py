"""`Asterisk._on_channel`'s one workaround: a Redirect refused with "channel not up" while the
channel's previous move (a Redirect's or Bridge's async goto) is still pending as a soft
hang-up is tried again a few times, 50 ms apart (Asterisk's manager.c refuses a Redirect
while `ast_check_hangup_locked` holds; a consult right after a resume met it in CI at
26db9e2). The refusals are Asterisk's own words; the connection is a scripted one because
the sandbox does not produce the window on demand."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from admin_config.targets import Destination
from ami_bridge.errors import AmiActionFailed
from ami_bridge.pbx import Asterisk

NOT_UP = "Redirect failed, channel not up."
TO = Destination("implus-consult", "s", 1)


class Scripted:
    """Answers each action with the next of `replies` (an exception is raised)."""

    def __init__(self, *replies: Exception | None) -> None:
        self.replies = list(replies)
        self.sent: list[dict[str, Any]] = []

    async def send_action(self, action: dict[str, Any]) -> dict[str, str]:
        self.sent.append(dict(action))
        reply = self.replies.pop(0)
        if reply is not None:
            raise reply
        return {"Response": "Success"}


def _redirect(conn: Scripted) -> bool:
    return asyncio.run(Asterisk(conn).redirect("1796684742.4", TO))  # type: ignore[arg-type]


def test_a_channel_still_moving_is_redirected_once_its_move_is_done() -> None:
    conn = Scripted(AmiActionFailed("Redirect", NOT_UP), AmiActionFailed("Redirect", NOT_UP), None)
    assert _redirect(conn) is True
    assert len(conn.sent) == 3


def test_a_channel_gone_meanwhile_is_gone_not_an_error() -> None:
    conn = Scripted(
        AmiActionFailed("Redirect", NOT_UP), AmiActionFailed("Redirect", "No such channel")
    )
    assert _redirect(conn) is False
    assert len(conn.sent) == 2


def test_a_channel_never_up_again_is_still_an_error() -> None:
    conn = Scripted(*[AmiActionFailed("Redirect", NOT_UP)] * 6)
    with pytest.raises(AmiActionFailed, match="channel not up"):
        _redirect(conn)
    assert len(conn.sent) == 6


def test_other_refusals_are_not_tried_again() -> None:
    conn = Scripted(AmiActionFailed("Redirect", "Redirect failed"))
    with pytest.raises(AmiActionFailed):
        _redirect(conn)
    assert len(conn.sent) == 1
