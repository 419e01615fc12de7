"""VoIP legs on the (fake) FreeSWITCH through the ESL bridge: a browser call arrives as the
generated `implus-webrtc` context leaves it (implus_user from the relay's header,
implus_media=voip) and becomes a `voip` request in the customer's chat session, offered to
the chat's agent first, with the call's hang-up and duration in that transcript."""

from __future__ import annotations

from fsbridge_harness import Stack


def test_voip_leg_joins_the_chat_session_and_goes_to_its_agent(stack: Stack) -> None:
    stack.agent_ready("anna")
    stack.agent_ready("bert")
    # The customer chats first; bert serves the chat (the session's agent).
    chat = stack.router.submit("chat", "booking", "u77", force_agent="bert")
    stack.wait(
        lambda: (r := stack.router.request(chat.request_id)) is not None and r.offer,
        "the chat offer",
    )
    offer = stack.router.request(chat.request_id).offer
    assert stack.router.accept(offer, "bert")

    caller = stack.calls.dial(
        "800", "webrtc", variables={"implus_user": "u77", "implus_media": "voip"}
    )
    request = stack.wait_request(caller, "accepted")
    assert request.channel.value == "voip"
    assert request.session_id == chat.session_id
    assert request.agent == "bert"  # known agent, though anna has the higher skill
    assert request.user_id == "u77"

    stack.calls.hangup(caller)
    stack.wait_request(caller, "closed")
    entries = stack.call_entries(chat.session_id, caller)
    hangups = [e for e in entries if e["type"] == "call.hangup"]
    assert hangups and "duration_s" in hangups[-1], entries
