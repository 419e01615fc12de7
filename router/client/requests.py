"""Client operations on routing requests and their offers: submit, accept, end, transfer."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from router.client.base import OpsBase
from router.client.values import (
    STATS_WINDOW_MS,
    Result,
    Submitted,
    channel_of,
    check_id,
    new_id,
    result_of,
)
from router.errors import InvalidInput
from router.model import Channel, Offer, RoutingRequest
from router.ops import Op, Script, cmd, pairs


class RequestOps(OpsBase):
    def submit(
        self,
        channel: str,
        service: str,
        user_id: str,
        *,
        customer: Mapping[str, Any] | None = None,
        priority: int = 0,
        pbx: str = "",
        call_id: str = "",
        callback_number: str = "",
        request_id: str = "",
        force_queue: str = "",
        force_agent: str = "",
        max_wait: int = 0,
    ) -> Op[Submitted]:
        """File a routing request in the user's open session for ``service`` (or a new one).

        ``max_wait`` (seconds, 0 none): the request overflows once it has waited that long
        (an offer ringing then rings out first).

        Idempotent on ``request_id``: re-submitting an existing id returns the first result.
        """
        ch = channel_of(channel)
        rid = check_id("request id", request_id) if request_id else new_id()
        customer_json = json.dumps(dict(customer or {}), sort_keys=True, default=str)
        if len(customer_json) > 8192:
            raise InvalidInput("customer attributes are limited to 8 KiB of JSON")
        if not -100 <= int(priority) <= 100:
            raise InvalidInput("priority must be within -100..100")
        if not 0 <= int(max_wait) <= 86400:
            raise InvalidInput("max wait must be within 0..86400 seconds")
        if ch is not Channel.CHAT and callback_number and not callback_number.lstrip("+").isdigit():
            raise InvalidInput(
                f"callback number must be digits (optionally +), got {callback_number!r}"
            )
        reply = yield Script(
            "submit",
            (
                rid,
                new_id(),
                ch.value,
                check_id("service", service),
                check_id("user id", user_id),
                customer_json,
                int(priority),
                pbx,
                call_id,
                callback_number,
                force_queue,
                force_agent,
                int(max_wait),
            ),
        )
        if int(reply[0]) == 1:
            return Submitted(rid, str(reply[1]), bool(int(reply[2])))
        return Submitted(rid, str(reply[2]), True)

    def cancel(self, request_id: str, reason: str = "abandoned") -> Op[Result]:
        """The customer gave up (hung up, closed the chat) before being served."""
        return result_of(
            (yield Script("cancel", (check_id("request id", request_id), reason[:200])))
        )

    def request(self, request_id: str) -> Op[RoutingRequest | None]:
        h = pairs((yield cmd("HGETALL", self.keys.request(request_id))))
        return RoutingRequest.from_hash(h) if h else None

    def offer(self, offer_id: str) -> Op[Offer | None]:
        h = pairs((yield cmd("HGETALL", self.keys.offer(offer_id))))
        return Offer.from_hash(h) if h else None

    def accept(self, offer_id: str, agent_id: str = "") -> Op[Result]:
        """The agent takes the offer (for a call: their phone answered)."""
        return result_of(
            (yield Script("accept", (check_id("offer id", offer_id), agent_id, STATS_WINDOW_MS)))
        )

    def reject(self, offer_id: str, agent_id: str = "", reason: str = "rejected") -> Op[Result]:
        """The agent declines; the request is not offered to them again for a while."""
        return result_of(
            (
                yield Script(
                    "release",
                    (check_id("offer id", offer_id), agent_id, "rejected", reason[:200], 0),
                )
            )
        )

    def offer_failed(self, offer_id: str, reason: str = "no_answer") -> Op[Result]:
        """The PBX could not connect the agent (no_answer / busy / unavailable). A no-answer
        counts as a missed offer (repeated misses set the agent away)."""
        if reason not in ("no_answer", "busy", "unavailable"):
            raise InvalidInput("reason must be no_answer, busy or unavailable")
        missed = 1 if reason == "no_answer" else 0
        return result_of(
            (
                yield Script(
                    "release", (check_id("offer id", offer_id), "", "failed", reason, missed)
                )
            )
        )

    def timeout_offer(self, offer_id: str) -> Op[Result]:
        """The offer's time ran out (the workers call this from the offer timer)."""
        return result_of((yield timeout_step(offer_id)))

    def complete(self, request_id: str, disposition: str = "") -> Op[Result]:
        """A contact is over: the agent's slot is freed and wrap-up starts."""
        return result_of(
            (yield Script("complete", (check_id("request id", request_id), disposition[:200])))
        )

    def transfer(
        self, request_id: str, *, queue: str = "", agent_id: str = "", by: str = ""
    ) -> Op[Result]:
        """Move a contact (or waiting request) to ``queue`` or to ``agent_id`` in the same session.
        The result's ``request_id`` is the request now routing."""
        if bool(queue) == bool(agent_id):
            raise InvalidInput("transfer to exactly one of queue or agent_id")
        if queue:
            check_id("queue", queue)
        if agent_id:
            check_id("agent id", agent_id)
        return result_of(
            (
                yield Script(
                    "transfer", (check_id("request id", request_id), new_id(), queue, agent_id, by)
                )
            )
        )


def timeout_step(offer_id: str) -> Script:
    """The release of an offer whose time ran out (a missed offer for its agent)."""
    return Script("release", (offer_id, "", "timeout", "no answer in time", 1))
