"""After (re)connecting, and periodically: Asterisk's live channels for the call flow's
reconciliation (`callflow.reconcile` decides what to repair; this module lists and queues).

AMI never replays events missed while the link was down or the bridge was not running. On
every LinkUp (and periodically, as a safety net) the bridge reads CoreShowChannels, turns
each channel into a `LiveChannel`, and runs the repair of each call in that call's own
queue (after the events already queued for it), then the strangers (callers holding at an
entry point that no record names, legs the bridge placed that nobody holds), and after a
LinkUp the router side and every agent phone's presence.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from callflow.flow import CallFlow
from callflow.reconcile import LiveChannel, Repairs
from callflow.steps import Flow

from . import events as ev
from .actors import Serial
from .intents import AmiIntents
from .pbx import Asterisk
from .presence import Presence

log = logging.getLogger("implus.ami_bridge")

LEG_PREFIX = "implus-"
"""The Uniqueids (Originate ChannelId) of the legs the bridge places (`leg_id`)."""


def leg_id(key: str) -> str:
    """The Uniqueid the bridge gives the leg it places for `key` (an offer or a
    click-to-call id): the same key always names the same leg."""
    return f"{LEG_PREFIX}{key}"


def live_channel(ch: ev.CoreShowChannel) -> LiveChannel:
    return LiveChannel(
        id=ch.uniqueid,
        holding=ch.application == "MusicOnHold",
        dialing=ch.application == "Dial",
        bridged=bool(ch.bridge_id),
        placed=ch.uniqueid.startswith(LEG_PREFIX),
        number=ch.caller_id_num,
        exten=ch.exten,
        name=ch.caller_id_name,
        language=ch.language,
    )


class Reconciler:
    def __init__(
        self,
        flow: CallFlow,
        pbx: Asterisk,
        intents: AmiIntents,
        serial: Serial,
        presence: Presence,
        run: Callable[[Flow, str], Awaitable[None]],
    ) -> None:
        self.flow = flow
        self.pbx = pbx
        self.intents = intents
        self.serial = serial
        self.presence = presence
        self.run_flow = run

    async def run(self, full: bool = True) -> Repairs:
        """One pass. `full` (after a LinkUp) also repairs the router side and presence."""
        repairs = Repairs()
        taken_ms = self.flow.ctx.now()
        channels = await self.pbx.channels()
        live = {uid: live_channel(ch) for uid, ch in channels.items()}
        self.intents.listed_variables = {uid: ch.chan_vars for uid, ch in channels.items()}
        r = self.flow.reconciler
        book = self.flow.ctx.book
        jobs = []
        for call in book.all():

            async def job(call_id: str = call.id) -> None:
                call = book.get(call_id)
                if call is not None:  # (ended while queued)
                    await self.run_flow(
                        r.call(call, live, repairs, 0 if full else taken_ms), call_id
                    )

            jobs.append(self.serial.submit(call.id, job))
        await asyncio.gather(*jobs, return_exceptions=True)
        jobs = []
        for ch in live.values():
            if book.find(ch.id) is None:

                async def stranger(one: LiveChannel = ch) -> None:
                    await self.run_flow(r.strangers({one.id: one}, repairs), one.id)

                jobs.append(self.serial.submit(ch.id, stranger))
        await asyncio.gather(*jobs, return_exceptions=True)
        if full:
            agents = list(self.presence.agent_of.values())
            await self.run_flow(r.router_side(live, agents, repairs), "reconcile")
            await self.presence.rebuild()
        self.intents.listed_variables = {}
        if repairs:
            log.warning("reconciled with Asterisk: %s", repairs)
        return repairs
