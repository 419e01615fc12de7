"""Which error texts each audience gets (pure: no Redis, no sockets)."""

from __future__ import annotations

import pytest

from chat.client_errors import NEUTRAL, message_for
from chat.errors import AuthError, BadInput, NotFoundError, RateLimited, Refused, Unavailable

REDIS_DOWN = Unavailable("the router's Redis is unavailable: Error 111 connecting to 10.0.0.5")


@pytest.mark.parametrize(
    ("error", "customer_sees"),
    [
        (REDIS_DOWN, NEUTRAL["unavailable"]),
        (Refused("cannot accept the offer: agent bob is busy"), NEUTRAL["refused"]),
        (NotFoundError("no request r-123"), NEUTRAL["not_found"]),
        (BadInput("router says: bad agent bob", code="rejected_by_router"), None),
        (RuntimeError("bug at 0x7f"), NEUTRAL["server_error"]),
        (RateLimited("too many frames: slow down and retry in 0.2 s"), "as written"),
        (BadInput("message has 5000 characters", code="message_too_long"), "as written"),
        (AuthError("customer token is invalid or expired: get a new one"), "as written"),
    ],
)
def test_customers_get_neutral_texts_unless_it_is_about_their_input(
    error: Exception, customer_sees: str | None
) -> None:
    shown = message_for(error, "customer")
    if customer_sees == "as written":
        assert shown == str(error)
    else:
        assert shown != str(error)
        assert customer_sees is None or shown == customer_sees
        for word in ("Redis", "10.0.0.5", "bob", "r-123", "0x7f"):
            assert word not in shown


def test_staff_get_the_detail_and_the_public_no_outage_detail() -> None:
    assert "Error 111" in message_for(REDIS_DOWN, "staff")
    assert message_for(REDIS_DOWN, "staff").endswith("retry shortly")
    assert message_for(REDIS_DOWN, "public") == NEUTRAL["unavailable"]
    assert message_for(AuthError("log in first"), "public") == "log in first"
    assert message_for(RuntimeError("bug"), "staff") == NEUTRAL["server_error"]
