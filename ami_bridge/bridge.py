"""`AmiBridge`: one asyncio process between one Asterisk and the router.

Four loops share the work:

- AMI events -> `Translator` -> call-flow facts -> the call's serial queue
  (`actors.Serial`); a `LinkUp` first reconciles with Asterisk (`reconcile.py`), then
  re-reads the commands left unacknowledged;
- router commands (`keys.pbx_commands`, group `bridge`) -> the call's serial queue; a
  command is acknowledged once handled, or left pending when the AMI link was down;
- the agents' `sip` presence leases, renewed every third of their ttl;
- a periodic reconciliation, the safety net for anything lost.

What a call does is the shared call flow (`callflow`): this bridge only translates AMI
events into its facts and carries out its intents with AMI actions (`intents.py`).
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
from callflow import commands as cmd
from callflow import facts as f
from callflow.context import FlowContext
from callflow.drive import Deferred, run_async
from callflow.flow import CallFlow
from callflow.intents import PbxUnavailable
from callflow.reconcile import Repairs
from callflow.records import CallBook
from callflow.steps import Flow
from router.client import AsyncRouterClient, now_ms
from router.client.held import HeldConnection
from router.connect import (
    MasterWatch,
    durability_from_url,
    master_identity_async,
    redis_from_url,
)
from router.errors import RouterError

from . import events as ev
from .actors import Serial
from .connection import AmiConnection
from .errors import AmiError, AmiLoginFailed, AmiUnavailable
from .intents import AmiIntents
from .pbx import Asterisk
from .presence import Presence
from .reconcile import Reconciler, leg_id
from .settings import BridgeSettings
from .translate import Translator

log = logging.getLogger("implus.ami_bridge")


def _router_client(settings: BridgeSettings) -> AsyncRouterClient:
    """A router client whose pool WAITS for a free connection (redis-py's default pool
    raises "Too many connections" when a burst of calls needs more than it has)."""
    rds = redis_from_url(
        settings.redis_url,
        asyncio=True,
        blocking_pool=settings.concurrency + 8,  # + command reader, presence, reconcile
        pool_timeout=30,
    )
    return AsyncRouterClient(
        rds, settings.domain, durability=durability_from_url(settings.redis_url)
    )


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
        self.pbx = Asterisk(self.conn)
        self.book = CallBook(self.router.keys.pbx_calls(pbx_id))
        self.ctx = FlowContext(
            pbx_id,
            config,
            self.router.ops,
            self.book,
            leg_id,
            chooses_agent_legs=False,
            clock=now_ms,
        )
        self.flow = CallFlow(self.ctx)
        self.intents = AmiIntents(self.pbx)
        self.deferred = Deferred()
        self._deferred_wake = asyncio.Event()
        self.deferred.on_add = self._deferred_wake.set
        self.serial = Serial(limit=settings.concurrency)
        self.translator = Translator()
        self.presence = Presence(
            self.router, self.pbx, settings.sip_ttl_s, lambda agent: bool(self.book.of_agent(agent))
        )
        self.reconciler = Reconciler(
            self.flow, self.pbx, self.intents, self.serial, self.presence, self.run_flow
        )
        self.commands = cmd.CommandStream(
            self.router.keys.pbx_commands(pbx_id), settings.consumer_name
        )
        self.last_repairs = Repairs()
        self.reconciled = asyncio.Event()
        """Set after each reconciliation that followed a LinkUp (tests wait on it)."""
        self._stream = self.conn.events()  # subscribed before start: nothing is missed
        self._link_ready = asyncio.Event()
        self._inflight: set[str] = set()
        self._tasks: list[asyncio.Task[Any]] = []
        self.redis_watch = MasterWatch()
        self._reader = HeldConnection(self.router.redis)
        """The command loop's blocking reads: a connection of their own, held."""
        self._link_up = False
        """The AMI link is up (ready or not: a reconciliation may have failed on Redis)."""
        self._link_retry: asyncio.Task[None] | None = None
        self._linking = asyncio.Lock()
        self.link_retry_s = 2.0
        """Seconds before a failed reconciliation after a LinkUp is tried again."""

    # --- lifecycle -----------------------------------------------------------------------

    async def run(self) -> None:
        await self.start()
        await asyncio.gather(*self._tasks)

    async def start(self) -> None:
        """Load the book, push agent profiles, connect; the loops then run in tasks."""
        loaded = await self.router.run(self.book.load())
        if loaded:
            log.info("%d calls in the book from a previous run: reconciling them", loaded)
        if self.settings.push_agents:
            await self._push_agents()
        self.presence.learn_agents(await self._agent_phones())
        await self.router.run(self.commands.ensure_group())
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._event_loop(), name="ami-events"),
            loop.create_task(self._command_loop(), name="pbx-commands"),
            loop.create_task(self._presence_loop(), name="sip-presence"),
            loop.create_task(self._reconcile_loop(), name="reconcile"),
            loop.create_task(self._deferred_loop(), name="deferred-writes"),
            loop.create_task(self._redis_loop(), name="redis-watch"),
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
        tasks = [*self._tasks, *([self._link_retry] if self._link_retry else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.serial.close()
        with contextlib.suppress(Exception):
            for key in self.deferred.pending_keys():
                await asyncio.wait_for(self._write_deferred(key), 5)
        await self.conn.close()
        with contextlib.suppress(Exception):
            await self._reader.close()
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
                self._link_up = False
                self._link_ready.clear()
                self.translator.reset()
                continue
            if isinstance(item, ev.LinkUp):
                self._link_up = True
                self.translator.reset()
                await self._after_link_up()
                continue
            for fact in self.translator.feed(item):
                self.dispatch(fact)

    async def _after_link_up(self) -> None:
        async with self._linking:  # one at a time: LinkUp, Redis back, a retry
            await self._reconcile_after_link_up()

    async def _reconcile_after_link_up(self) -> None:
        try:
            self.presence.learn_agents(await self._agent_phones())
            self.last_repairs = await self.reconciler.run(full=True)
        except (AmiError, RouterError, redis.exceptions.RedisError) as e:
            # Until one succeeds the link is not ready: no commands, no phone leases, no
            # periodic reconciliation - so it is tried again, not left to a next LinkUp.
            log.error(
                "reconciliation after the AMI link came up failed (%s); retrying in %g s",
                e,
                self.link_retry_s,
            )
            retry = self._link_retry
            if retry is None or retry.done() or retry is asyncio.current_task():
                self._link_retry = asyncio.get_running_loop().create_task(
                    self._retry_link_up(), name="link-up-retry"
                )
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
            for delivery in await self.router.run(self.commands.read(True, None)):
                if delivery.id not in self._inflight:
                    self._command(delivery)
        except (RouterError, redis.exceptions.RedisError) as e:
            log.error("reading unacknowledged commands failed: %s", e)

    async def _retry_link_up(self) -> None:
        await asyncio.sleep(self.link_retry_s)
        if self._link_up and not self._link_ready.is_set():  # else a LinkUp/Down took over
            await self._after_link_up()

    def dispatch(self, fact: f.Fact) -> None:
        """Queue a fact on the serial queue of the call it is about. A fact that changes
        nothing (no call of ours, a phone state the router has) is dropped here when
        nothing is queued before it: most events of a busy PBX are such."""
        log.debug("fact %s", fact)
        key = self.flow.key_of_fact(fact)
        idle = not self.serial.queued(key)
        if isinstance(fact, f.DeviceChanged):
            if idle and not self.presence.is_news(fact):
                return
            self.serial.submit(key, lambda: self.presence.device_changed(fact))
            return
        if idle and not self.flow.concerns(fact):
            return
        self.serial.submit(key, lambda: self.run_flow(self.flow.fact(fact), key))

    async def run_flow(self, flow: Flow, key: str) -> None:
        """Run a call-flow generator: router ops over Redis, intents over AMI."""
        # batched: the calls' router operations of one loop tick share one pipeline
        await run_async(flow, self.ctx, self.router.run_batched, self.intents, self.deferred, key)

    # --- router commands -----------------------------------------------------------------

    async def _command_loop(self) -> None:
        while True:
            await self._link_ready.wait()
            try:
                deliveries = await self.router.run(
                    self.commands.read(False, self.settings.command_block_ms), self._reader
                )
            except (RouterError, redis.exceptions.RedisError) as e:
                if "NOGROUP" in str(e):  # Redis lost the group (failover, restart): make it
                    log.warning("the command stream lost its consumer group; creating it")
                    await self._ensure_group()
                    continue
                log.error("reading PBX commands failed (%s); retrying in 1 s", e)
                await asyncio.sleep(1)
                continue
            for delivery in deliveries:
                self._command(delivery)

    def _command(self, delivery: cmd.Delivery) -> None:
        try:
            command = cmd.parse_command(delivery.fields)
        except cmd.BadCommand as e:
            log.error("PBX command %s dropped: %s", delivery.id, e)
            self.deferred.add("commands", [self.commands.ack_step(delivery.id)], [])
            return
        log.debug("command %s %s", delivery.id, command)
        key = self.flow.key_of_command(command)
        self._inflight.add(delivery.id)

        async def job() -> None:
            try:
                await self.run_flow(self.flow.command(command), key)
            except PbxUnavailable as e:
                # Not acknowledged: read again after the next LinkUp, once reconciled.
                log.warning("command %s waits for the AMI link: %s", delivery.id, e)
                return
            except Exception:
                log.exception(
                    "command %s failed; acknowledged so it is not retried forever", delivery.id
                )
            finally:
                self._inflight.discard(delivery.id)
            # acknowledged after the flow's own writes, in the same round trip
            self.deferred.add(key, [self.commands.ack_step(delivery.id)], [])

        self.serial.submit(key, job)

    async def _deferred_loop(self) -> None:
        """Write what ended flows left (records, transcript entries) when no router
        operation carried it within a couple of milliseconds."""
        while True:
            await self._deferred_wake.wait()
            self._deferred_wake.clear()
            await asyncio.sleep(0.002)
            for key in self.deferred.pending_keys():  # in each call's own queue
                self.serial.submit(key, self._deferred_job(key))

    def _deferred_job(self, key: str) -> Callable[[], Awaitable[None]]:
        return lambda: self._write_deferred(key)

    async def _write_deferred(self, key: str) -> None:
        try:
            await self.router.run_batched(self.deferred.op(self.ctx, key))
        except (RouterError, redis.exceptions.RedisError) as e:
            log.error("writing call records / transcript entries failed: %s", e)

    # --- Redis failover --------------------------------------------------------------------

    async def _redis_loop(self) -> None:
        while True:
            await asyncio.sleep(MasterWatch.INTERVAL_S)
            try:
                identity = await master_identity_async(self.router.redis)
            except redis.exceptions.RedisError:
                self.redis_watch.unreachable()
                continue
            if self.redis_watch.answered(identity):
                await self._after_redis_change()

    async def _after_redis_change(self) -> None:
        """Redis was unavailable, or another server (a promoted replica) answers now: it may
        lack the last changes. As after a restart of the bridge: the consumer group again,
        then (AMI link up) the calls reconciled with Asterisk's channels and unacknowledged
        commands read again. Calls in progress went on in Asterisk meanwhile."""
        log.warning("Redis answers again (or another server does): reconciling the calls")
        await self._ensure_group()
        if self._link_up:  # also when the last LinkUp's reconciliation failed on Redis
            await self._after_link_up()

    async def _ensure_group(self) -> None:
        try:
            await self.router.run(self.commands.ensure_group())
        except (RouterError, redis.exceptions.RedisError) as e:
            log.error("cannot create the command stream's group (%s); retrying later", e)

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
            except (AmiError, RouterError, redis.exceptions.RedisError) as e:
                log.error("periodic reconciliation failed: %s", e)
