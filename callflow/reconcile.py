"""After (re)connecting, and periodically: make the records and the router agree with what
the PBX has NOW. Neither PBX replays events missed while the link was down or the bridge
was not running, so memory cannot be trusted.

The bridge lists the PBX's live channels as `LiveChannel`s (Asterisk: CoreShowChannels;
FreeSWITCH: `show channels`) and runs, per call (in that call's order with its events):

- the caller (inbound) / the agent leg (outbound) gone -> its hang-up is handled as if seen;
- ringing: the caller bridged meanwhile, or the agent leg answered and waiting -> answered;
  the agent leg gone, or the caller back on hold -> `offer_failed`;
- waiting: the router no longer has a live request for it -> filed again (same session);
  the request accepted but nobody connected -> completed and filed again;
- connected: the agent leg gone -> the contact is completed and the caller hung up.

Then, once per pass: callers holding at an entry point that no record names (they arrived
while no bridge listened, or Redis lost the records) are taken over; agent legs the bridge
placed that no call holds and that are not in a conversation are hung up (no agent sits in
a silent call); and (after a reconnect) contacts and offers the router holds for this
PBX's calls that are gone are completed / cancelled.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from router.errors import RouterError
from router.model import Channel, OfferState, RequestState

from . import facts as f
from . import intents as do
from . import policy
from .context import FlowContext
from .inbound import InboundFlow
from .outbound import OutboundFlow
from .records import Call, CallState
from .steps import Ask, Do, Flow

log = logging.getLogger("implus.callflow")

GONE = "gone while the bridge was not listening"
ENTRY_VARIABLES = ("entry", "service", "user", "language", "hold_music", "max_wait", "media")
"""The entry point's variables a taken-over caller is read back from (each bridge maps the
names to its PBX's: IMPLUS_ENTRY on Asterisk, implus_entry on FreeSWITCH)."""


@dataclass(frozen=True)
class LiveChannel:
    """One live channel, in the call flow's terms."""

    id: str
    holding: bool = False
    """A caller waiting at an entry point (on hold / parked)."""
    dialing: bool = False
    """Running a Dial (Asterisk: a caller ringing an agent; an agent leg calling out)."""
    bridged: bool = False
    """In a conversation with another channel."""
    answered_waiting: bool = False
    """An agent leg that answered and waits to be connected (FreeSWITCH: parked)."""
    placed: bool | None = None
    """A leg the bridge placed (True/False), None if only a channel variable can tell."""
    number: str = ""
    exten: str = ""
    name: str = ""
    language: str = ""


@dataclass
class Repairs:
    """What one reconciliation changed (logged; tests read it)."""

    ended: list[str] = field(default_factory=list)
    answered: list[str] = field(default_factory=list)
    failed_legs: list[str] = field(default_factory=list)
    adopted: list[str] = field(default_factory=list)
    refiled: list[str] = field(default_factory=list)
    orphans_hung_up: list[str] = field(default_factory=list)
    router_fixed: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return any(vars(self).values())


class Reconciler:
    def __init__(self, ctx: FlowContext, inbound: InboundFlow, outbound: OutboundFlow) -> None:
        self.ctx = ctx
        self.inbound = inbound
        self.outbound = outbound
        self._missed: dict[str, int] = {}
        """Call id -> when a periodic pass's listing first missed one of its channels."""

    def call(
        self, call: Call, live: Mapping[str, LiveChannel], repairs: Repairs, settle_ms: int = 0
    ) -> Flow:
        """Repair one call from `live` (run in the call's own order, like its events). In a
        periodic pass (`settle_ms`: when the listing was taken), a record saved shortly
        before or after it is left to the next pass: its events may still be on the way.
        After a reconnect nothing is on the way: events missed then are lost.

        A periodic pass also leaves alone a call whose channel the listing misses for the
        first time, however old its record: the PBX lists its channel table at once but
        queues events, so the hang-up's events (who hung up, the real cause) may still be on
        the way - e.g. FreeSWITCH answers `show channels` before the events queued for this
        connection. Still missed SETTLE_MS later, with the call still on record, it is gone."""
        if settle_ms and call.updated_ms >= settle_ms - policy.SETTLE_MS:
            return
        if settle_ms and self._first_miss(call, live, settle_ms):
            return
        self._missed.pop(call.id, None)
        if call.inbound:
            yield from self._inbound(call, live, repairs)
        else:
            yield from self._outbound(call, live, repairs)

    def _first_miss(self, call: Call, live: Mapping[str, LiveChannel], taken_ms: int) -> bool:
        """Does the listing taken at `taken_ms` miss a channel of `call` that an earlier one
        (less than SETTLE_MS before) missed first, or miss it for the first time?"""
        channels = (call.id, call.leg, call.customer_leg)
        if all(ch in live for ch in channels if ch):
            return False
        first = self._missed.get(call.id)
        if first is None:
            book = self.ctx.book  # forget calls ended meanwhile (by their events)
            for gone in [c for c in self._missed if book.get(c) is None]:
                del self._missed[gone]
            first = self._missed[call.id] = taken_ms
        return taken_ms - first < policy.SETTLE_MS

    def _inbound(self, call: Call, live: Mapping[str, LiveChannel], repairs: Repairs) -> Flow:
        i = self.inbound
        caller = live.get(call.id)
        if caller is None:
            repairs.ended.append(call.id)
            if call.state is CallState.NEW:
                yield from self._filed(call)
            yield from i.gone(call, f.ChannelGone(call.id, "UNKNOWN", GONE))
            return
        if call.state is CallState.NEW:
            repairs.refiled.append(call.id)
            yield from i.file(call)
        elif call.state is CallState.WAITING:
            yield from self._check_request(call, repairs)
        elif call.state is CallState.RINGING:
            leg = live.get(call.leg) if call.leg else None
            if caller.bridged or (leg is not None and leg.answered_waiting):
                repairs.answered.append(call.id)  # answered while nobody listened
                yield from i.leg_answered(call, f.LegAnswered(call.leg or "?", by=call.id))
                if caller.bridged:
                    yield from i.bridged(call, f.Bridged(call.id, call.leg), seen_late=True)
            elif (call.leg and leg is None and not caller.dialing) or (
                not call.leg and not caller.dialing and caller.holding
            ):
                repairs.failed_legs.append(call.leg or call.offer)  # the ringing ended unseen
                yield from i.leg_failed(call, f.LegFailed(call.leg, "unavailable", by=call.id))
        elif call.state is CallState.CONNECTED:
            if call.leg and call.leg not in live and not call.agent_gone:
                repairs.ended.append(call.leg)
                yield from i.gone(call, f.ChannelGone(call.leg, "UNKNOWN", GONE))
                if not caller.bridged:  # nobody to talk to: the contact is over
                    yield from self.ctx.ask(
                        "complete", self.ctx.ops.complete(call.request, "agent hung up")
                    )
                    yield Do(do.HangUp(call.id))
            else:  # (again: a bridge that crashed may not have written it)
                yield from i.bridged(call, f.Bridged(call.id, call.leg), seen_late=True)

    def _filed(self, call: Call) -> Flow:
        """A record still saying NEW may belong to a caller that waited: the flow writes
        WAITING with the call's next change only (`InboundFlow.file`). The router knows
        whether its request was filed, so the hang-up says what the caller was doing. The
        caller's `call.answered` goes out at the end of its arrival (after FreeSWITCH's hold
        music command): a bridge that died before then never wrote it - it is written now."""
        request = yield from self.ctx.ask("request", self.ctx.ops.request(call.request))
        if request is not None:
            call.state = CallState.WAITING
            call.session = call.session or request.session_id
            yield from self.inbound.note_answered(call)

    def _check_request(self, call: Call, repairs: Repairs) -> Flow:
        """A waiting caller's request must still be waiting in the router; else route again."""
        c = self.ctx
        try:
            request = yield Ask(c.ops.request(call.request), "request")
        except RouterError as e:
            log.error("call %s: cannot check request %s: %s", call.id, call.request, e)
            return
        if request is None:
            repairs.refiled.append(call.id)
            yield from self.inbound.file(call)  # same id: filing again changes nothing else
        elif request.state.is_final:
            log.info(
                "call %s waits but its request is %s: filing again", call.id, request.state.value
            )
            repairs.refiled.append(call.id)
            yield from self.inbound.route_again(call, rehold=False)
        elif request.state is RequestState.ACCEPTED:
            log.info(
                "call %s: request %s accepted but nobody is connected: routing again",
                call.id,
                call.request,
            )
            repairs.refiled.append(call.id)
            yield from c.ask("complete", c.ops.complete(call.request, "agent not connected"))
            yield from self.inbound.route_again(call, rehold=True)

    def _outbound(self, call: Call, live: Mapping[str, LiveChannel], repairs: Repairs) -> Flow:
        o = self.outbound
        leg = live.get(call.id)
        if leg is None:
            repairs.ended.append(call.id)
            yield from o.gone(call, f.ChannelGone(call.id, "UNKNOWN", GONE))
            return
        if call.state is CallState.RINGING and (leg.bridged or leg.dialing or leg.answered_waiting):
            repairs.answered.append(call.id)
            yield from o.leg_answered(call, f.LegAnswered(call.id))
        if call.customer_leg and call.customer_leg not in live and not call.customer_gone:
            yield from o.gone(call, f.ChannelGone(call.customer_leg, "UNKNOWN", GONE))

    def strangers(self, live: Mapping[str, LiveChannel], repairs: Repairs) -> Flow:
        """Live channels no record names: callers to take over, orphaned agent legs."""
        book = self.ctx.book
        for ch in live.values():
            if book.find(ch.id) is not None:
                continue
            if ch.holding:
                fact = yield from self._holding_caller(ch)
                if fact is not None and book.find(ch.id) is None:
                    log.info(
                        "taking over caller %s at entry %s that no record names", ch.id, fact.entry
                    )
                    repairs.adopted.append(ch.id)
                    yield from self.inbound.arrived(fact, adopted=True)
                continue
            placed = ch.placed
            if placed is None and ch.answered_waiting and not ch.bridged:
                found = yield Do(do.ReadVariables(ch.id, ("agent",)))
                placed = bool(found and found.get("agent"))
            if placed and not ch.bridged:
                log.info("hanging up agent leg %s: no call holds it any more", ch.id)
                repairs.orphans_hung_up.append(ch.id)
                yield Do(do.HangUp(ch.id, "ORIGINATOR_CANCEL"))

    def _holding_caller(self, ch: LiveChannel) -> Flow:
        """A channel on hold at an entry point, as if it had just arrived (None if it is not
        at one of ours, or gone)."""
        found = yield Do(do.ReadVariables(ch.id, ENTRY_VARIABLES))
        if not found or not found.get("entry") or not found.get("service"):
            return None
        max_wait = found.get("max_wait", "")
        return f.CallerArrived(
            call_id=ch.id,
            service=found["service"],
            entry=found["entry"],
            user=found.get("user", ""),
            language=found.get("language", "") or ch.language,
            exten=ch.exten,
            number=ch.number,
            caller_name=ch.name,
            max_wait=int(max_wait) if max_wait.isdigit() else 0,
            hold_music=found.get("hold_music", ""),
            media=found.get("media", "") or "voice",
        )

    def router_side(
        self, live: Mapping[str, LiveChannel], agents: Iterable[str], repairs: Repairs
    ) -> Flow:
        """Contacts and offers the router holds for calls of this PBX that are gone."""
        c = self.ctx
        known = {call.id for call in c.book.all()}
        try:
            for agent in sorted(set(agents)):
                for request in (yield Ask(c.ops.agent_contacts(agent), "agent contacts")):
                    channel = self._channel_of(request.pbx, request.call_id, request.offer)
                    if request.channel is Channel.CHAT or not channel:
                        continue
                    if channel not in live and channel not in known:
                        repairs.router_fixed.append(request.id)
                        yield from c.ask("complete", c.ops.complete(request.id, "call gone"))
                for offer in (yield Ask(c.ops.agent_offers(agent), "agent offers")):
                    if offer.channel is Channel.CHAT or offer.state is not OfferState.PENDING:
                        continue
                    offered = yield Ask(c.ops.request(offer.request_id), "request")
                    if offered is None or offered.state is not RequestState.OFFERED:
                        continue
                    channel = self._channel_of(offered.pbx, offered.call_id, offer.id)
                    if channel and channel not in live and channel not in known:
                        repairs.router_fixed.append(offered.id)
                        if offered.callback:
                            op = c.ops.offer_failed(offer.id, "unavailable")
                            yield from c.ask("offer_failed", op)
                        else:
                            yield from c.ask("cancel", c.ops.cancel(offered.id, "caller gone"))
        except RouterError as e:
            log.error("router-side reconciliation stopped: %s", e)

    def _channel_of(self, pbx: str, call_id: str, offer: str) -> str:
        """The channel that carries a request on this PBX: the caller, or for a callback (no
        caller) the agent leg; '' when the request is not this PBX's."""
        if call_id:
            return call_id if pbx == self.ctx.pbx_id else ""
        return self.ctx.leg_id(offer) if offer else ""
