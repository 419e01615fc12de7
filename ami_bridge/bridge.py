"""`AmiBridge`: one asyncio process between one Asterisk and the router.

Four loops share the work:

- AMI events -> `Translator` -> facts -> the call's serial queue (`actors.Serial`); a
  `LinkUp` first reconciles with Asterisk (`reconcile.py`), then re-reads the commands
  left unacknowledged;
- router commands (`keys.pbx_commands`, group `bridge`) -> the call's serial queue; a
  command is acknowledged once handled, or left pending when the AMI link was down;
- the agents' `sip` presence leases, renewed every third of their ttl;
- a periodic reconciliation, the safety net for anything lost.

Everything about one call runs in its queue, in arrival order; different calls run
concurrently. No routing decision is taken here: the router decides, the bridge dials.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio
import redis.exceptions

from admin_config.agents import agent_profile
from admin_config.model import AdminConfig
from router.client import AsyncRouterClient

from . import commands as cmd
from . import events as ev
from . import facts as f
from .actors import Serial
from .batch import TranscriptWriter
from .callbook import Call, CallBook, CallKind
from .connection import AmiConnection
from .core import BridgeCore
from .errors import AmiError, AmiLoginFailed, AmiUnavailable, BadCommand
from .inbound import InboundCalls
from .outbound import OutboundCalls
from .pbx import Asterisk, leg_id
from .presence import Presence
from .reconcile import Reconciler, Repairs
from .settings import BridgeSettings
from .translate import Translator

log = logging.getLogger("implus.ami_bridge")


async def _ended_by(call: Call, uniqueid: str, customer_leg: str) -> None:
    """The first hang-up request among a call's channels says who ended it."""
    if not call.ended_by:
        call.ended_by = "customer" if uniqueid == customer_leg else "agent"


def _router_client(settings: BridgeSettings) -> AsyncRouterClient:
    """A router client whose pool WAITS for a free connection (redis-py's default pool
    raises "Too many connections" when a burst of calls needs more than it has)."""
    pool = redis.asyncio.BlockingConnectionPool.from_url(
        settings.redis_url,
        decode_responses=True,
        health_check_interval=30,
        max_connections=settings.concurrency + 8,  # + command reader, presence, reconcile
        timeout=30,
    )
    return AsyncRouterClient(redis.asyncio.Redis(connection_pool=pool), settings.domain)


class AmiBridge:
    """The AMI bridge of one PBX. `await run()` until cancelled; `await stop()` after."""

    def __init__(
        self,
        settings: BridgeSettings,
        config: AdminConfig,
        router: AsyncRouterClient | None = None,
        connection: AmiConnection | None = None,
    ) -> None:
        self.settings = settings
        self.config = config
        self.conn = connection or AmiConnection(settings.ami)
        self.router = router or _router_client(settings)
        pbx_id = settings.pbx_id
        self.book = CallBook(self.router.redis, self.router.keys.pbx_calls(pbx_id))
        self.transcripts = TranscriptWriter(self.router)
        self.core = BridgeCore(
            config,
            pbx_id,
            Asterisk(self.conn),
            self.router,
            self.book,
            self.transcripts,
            ring_margin_s=settings.ring_margin_s,
        )
        self.serial = Serial(limit=settings.concurrency)
        self.translator = Translator()
        self.inbound = InboundCalls(self.core)
        self.outbound = OutboundCalls(self.core, settings.click_ring_s)
        self.presence = Presence(self.core, settings.sip_ttl_s)
        self.reconciler = Reconciler(
            self.core, self.serial, self.inbound, self.outbound, self.presence
        )
        self.commands = cmd.CommandStream(
            self.router.redis, self.router.keys.pbx_commands(pbx_id), settings.consumer_name
        )
        self.last_repairs = Repairs()
        self.reconciled = asyncio.Event()
        """Set after each reconciliation that followed a LinkUp (tests wait on it)."""
        self._stream = self.conn.events()  # subscribed before start: nothing is missed
        self._link_ready = asyncio.Event()
        self._inflight: set[str] = set()
        self._tasks: list[asyncio.Task[Any]] = []

    # --- lifecycle -----------------------------------------------------------------------

    async def run(self) -> None:
        await self.start()
        await asyncio.gather(*self._tasks)

    async def start(self) -> None:
        """Load the book, push agent profiles, connect; the loops then run in tasks."""
        loaded = await self.book.load()
        if loaded:
            log.info("%d calls in the book from a previous run: reconciling them", loaded)
        if self.settings.push_agents:
            await self._push_agents()
        self.presence.learn_agents(await self._agent_phones())
        await self.commands.ensure_group()
        self.transcripts.start()
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._event_loop(), name="ami-events"),
            loop.create_task(self._command_loop(), name="pbx-commands"),
            loop.create_task(self._presence_loop(), name="sip-presence"),
            loop.create_task(self._reconcile_loop(), name="reconcile"),
            loop.create_task(self.commands.run_acks(), name="command-acks"),
        ]
        while True:
            try:
                await self.conn.start()
                return
            except AmiLoginFailed:
                await self.stop()
                raise
            except AmiUnavailable as e:
                log.warning("%s; still trying", e)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.serial.close()
        with contextlib.suppress(Exception):
            await self.transcripts.close()
        await self.conn.close()
        with contextlib.suppress(Exception):
            await self.router.close()

    async def _push_agents(self) -> None:
        pbx_id = self.settings.pbx_id
        count = 0
        for a in self.config.agents:
            if a.pbx not in (pbx_id, None):
                continue
            await self.router.upsert_agent(agent_profile(a))
            count += 1
        log.info("pushed %d agent profiles from %s", count, self.config.source or "the config")

    async def _agent_phones(self) -> dict[str, str]:
        """endpoint -> agent for phones on this PBX: the admin config, plus profiles the
        admin API created in the router."""
        pbx_id = self.settings.pbx_id
        phones = {a.endpoint: a.id for a in self.config.agents_on(pbx_id) if a.endpoint}
        for agent in await self.router.agents():
            if agent.profile.pbx == pbx_id and agent.profile.endpoint:
                phones.setdefault(agent.profile.endpoint, agent.id)
        return phones

    # --- AMI events ----------------------------------------------------------------------

    async def _event_loop(self) -> None:
        async for item in self._stream:
            if isinstance(item, ev.LinkDown):
                self._link_ready.clear()
                self.translator.reset()
                continue
            if isinstance(item, ev.LinkUp):
                self.translator.reset()
                await self._after_link_up()
                continue
            for fact in self.translator.feed(item):
                self.dispatch(fact)

    async def _after_link_up(self) -> None:
        try:
            self.presence.learn_agents(await self._agent_phones())
            self.last_repairs = await self.reconciler.run(full=True)
        except (AmiError, redis.exceptions.RedisError) as e:
            log.error("reconciliation after reconnect failed (%s); the next one repairs", e)
            return
        self._link_ready.set()
        self.reconciled.set()
        log.info(
            "ready: PBX %s, link %d, %d calls, %d agent phones, repairs: %s",
            self.settings.pbx_id,
            self.conn.generation,
            len(self.book),
            len(self.presence.agent_of),
            self.last_repairs or "none",
        )
        try:
            for entry_id, fields in await self.commands.pending():
                if entry_id not in self._inflight:
                    self._command(entry_id, fields)
        except redis.exceptions.RedisError as e:
            log.error("reading unacknowledged commands failed: %s", e)

    def dispatch(self, fact: f.Fact) -> None:
        """Queue a fact on the serial queue of the call it is about."""
        log.debug("fact %s", fact)
        i, o = self.inbound, self.outbound
        if isinstance(fact, f.CallerArrived):
            self.serial.submit(fact.call_id, lambda: i.arrived(fact))
        elif isinstance(fact, f.OutboundAnswered):
            self._on(fact.leg_id, outbound=o.agent_answered)
        elif isinstance(fact, f.LegAnswered):
            self._on(fact.leg_id or self._by_action(fact.action_id), outbound=o.agent_answered)
        elif isinstance(fact, f.RingEnded):
            self._on(fact.call_id, inbound=lambda c: i.ring_ended(c, fact))
        elif isinstance(fact, f.DialplanOverflow):
            self._on(fact.call_id, inbound=lambda c: i.dialplan_overflow(c, fact))
        elif isinstance(fact, f.LegFailed):
            self._on(
                fact.leg_id or self._by_action(fact.action_id),
                outbound=lambda c: o.leg_failed(c, fact),
            )
        elif isinstance(fact, f.Bridged):
            self._on(
                fact.uniqueid,
                inbound=lambda c: i.bridged(c, fact),
                outbound=lambda c: o.bridged(c, fact),
            )
        elif isinstance(fact, f.ChannelGone):
            self._on(
                fact.uniqueid,
                inbound=lambda c: i.gone(c, fact),
                outbound=lambda c: o.gone(c, fact),
            )
        elif isinstance(fact, f.HangupRequested):
            self._on(
                fact.uniqueid,
                inbound=lambda c: _ended_by(c, fact.uniqueid, c.id),
                outbound=lambda c: _ended_by(c, fact.uniqueid, c.customer_leg),
            )
        elif isinstance(fact, f.DialStarted):
            self._on(
                fact.uniqueid,
                inbound=lambda c: i.dial_started(c, fact),
                outbound=lambda c: o.dial_started(c, fact),
            )
        elif isinstance(fact, f.DialEnded):
            self._on(
                fact.uniqueid,
                inbound=lambda c: i.dial_ended(c, fact),
                outbound=lambda c: o.dial_ended(c, fact),
            )
        elif isinstance(fact, f.DeviceChanged):
            self.serial.submit(
                f"device:{fact.endpoint}", lambda: self.presence.device_changed(fact)
            )

    def _by_action(self, action_id: str) -> str:
        call = self.book.by_action(action_id)
        return call.id if call else ""

    def _on(
        self,
        uniqueid: str,
        inbound: Callable[[Call], Awaitable[None]] | None = None,
        outbound: Callable[[Call], Awaitable[None]] | None = None,
    ) -> asyncio.Future[None] | None:
        """Queue a handler on the call that `uniqueid` belongs to. The call is looked up
        again when the job runs: the book may change meanwhile (a caller's arrival may
        still be queued when its hang-up comes)."""
        if not uniqueid:
            return None
        known = self.book.find(uniqueid)
        key = known.id if known else uniqueid

        async def job() -> None:
            call = self.book.find(uniqueid)
            if call is None:
                return
            handler = inbound if call.kind is CallKind.INBOUND else outbound
            if handler is not None:
                await handler(call)

        return self.serial.submit(key, job)

    # --- router commands -----------------------------------------------------------------

    async def _command_loop(self) -> None:
        while True:
            await self._link_ready.wait()
            try:
                entries = await self.commands.read(self.settings.command_block_ms)
            except redis.exceptions.RedisError as e:
                log.error("reading PBX commands failed (%s); retrying in 1 s", e)
                await asyncio.sleep(1)
                continue
            for entry_id, fields in entries:
                self._command(entry_id, fields)

    def _command(self, entry_id: str, fields: dict[str, str]) -> None:
        try:
            command = cmd.parse_command(fields)
        except BadCommand as e:
            log.error("PBX command %s dropped: %s", entry_id, e)
            self.commands.ack_soon(entry_id)
            return
        log.debug("command %s %s", entry_id, command)
        self._inflight.add(entry_id)
        i, o = self.inbound, self.outbound
        if isinstance(command, cmd.RingAgent):
            key = command.call_id
            job: Callable[[], Awaitable[None]] = lambda: i.ring_agent(command)  # noqa: E731
        elif isinstance(command, cmd.Callback):
            key, job = leg_id(command.offer), lambda: o.callback(command)
        elif isinstance(command, cmd.ClickToCall):
            key, job = leg_id(command.call), lambda: o.click_to_call(command)
        else:
            uid = self._command_target(command)
            key = self._key(uid)
            job = self._call_job(uid, command)
        self.serial.submit(key, lambda: self._run_command(entry_id, job))

    def _command_target(self, command: cmd.Command) -> str:
        if isinstance(command, cmd.CancelRing):
            if command.call_id and self.book.find(command.call_id):
                return command.call_id
            return leg_id(command.offer)
        return getattr(command, "call_id", "")

    def _key(self, uniqueid: str) -> str:
        known = self.book.find(uniqueid)
        return known.id if known else uniqueid or "commands:none"

    def _call_job(self, uid: str, command: cmd.Command) -> Callable[[], Awaitable[None]]:
        i, o = self.inbound, self.outbound

        async def job() -> None:
            call = self.book.find(uid) if uid else None
            if call is None:
                return
            inbound = call.kind is CallKind.INBOUND
            if isinstance(command, cmd.CancelRing):
                await (i.cancel_ring(call, command) if inbound else o.cancel_ring(call, command))
            elif isinstance(command, cmd.Overflow) and inbound:
                await i.overflow(call, command)
            elif isinstance(command, cmd.Hold) and inbound:
                await i.hold(call, command)

        return job

    async def _run_command(self, entry_id: str, job: Callable[[], Awaitable[None]]) -> None:
        try:
            await job()
        except AmiUnavailable as e:
            # Not acknowledged: read again after the next LinkUp, once reconciled.
            log.warning("command %s waits for the AMI link: %s", entry_id, e)
            return
        except Exception:
            log.exception("command %s failed; acknowledged so it is not retried forever", entry_id)
        finally:
            self._inflight.discard(entry_id)
        self.commands.ack_soon(entry_id)

    # --- periodic duties -------------------------------------------------------------------

    async def _presence_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.sip_ttl_s / 3)
            if self._link_ready.is_set():  # without AMI the phones' state is unknown
                await self.presence.refresh()

    async def _reconcile_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.reconcile_interval_s)
            if not self._link_ready.is_set():
                continue
            try:
                await self.reconciler.run(full=False)
            except (AmiError, redis.exceptions.RedisError) as e:
                log.error("periodic reconciliation failed: %s", e)
