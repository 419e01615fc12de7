"""The ESL bridge: one FreeSWITCH <-> the router. gevent, in its own process (`implus esl-bridge`).

    bridge = EslBridge(settings, config, RouterClient.from_url(url, domain))
    bridge.run()            # until stop()

Greenlets: the ESL client's own (reader, event dispatcher, reconnect supervisor), the router
command reader, presence renewal, a periodic reconciliation sweep,
the status key. What a call does is the shared call flow (`callflow`): this bridge only
translates FreeSWITCH events into its facts (`translate.py`) and carries out its intents
with ESL commands (`intents.py`). FreeSWITCH events and router commands about one call run
in that call's own queue (`ordering.PerKey`), in arrival order; different calls run side
by side.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import uuid
from collections.abc import Callable
from typing import Any

import gevent
import gevent.event
import gevent.lock
import redis

from admin_config.model import AdminConfig
from callflow import commands as cmd
from callflow.context import FlowContext
from callflow.drive import run_sync
from callflow.facts import Fact
from callflow.flow import CallFlow
from callflow.intents import PbxUnavailable
from callflow.reconcile import Repairs
from callflow.records import CallBook
from callflow.steps import Flow
from esl_bridge.agents import phones_on, push_agents
from esl_bridge.batching import TickBatcher
from esl_bridge.client import EslClient
from esl_bridge.errors import EslError
from esl_bridge.events import BackgroundJob, ChannelEvent, DialplanEvent, EslEvent, Registration
from esl_bridge.intents import EslIntents
from esl_bridge.leftovers import Leftovers
from esl_bridge.ordering import PerKey, run_and_wait
from esl_bridge.pbx import FreeSwitch
from esl_bridge.presence import Presence
from esl_bridge.reconcile import live_channel, rebuild_presence
from esl_bridge.settings import BridgeSettings
from esl_bridge.translate import facts_of, job_tells_nothing, may_tell, origination_uuid
from router.client import now_ms
from router.connect import MasterWatch, master_identity
from router.direct import DirectPipeline
from router.errors import RouterError

log = logging.getLogger("esl_bridge")

LEG_NAMESPACE = uuid.UUID("5f3b1c2e-7d4a-4e8b-9c61-2a0f8e9d7b13")


def leg_id(key: str) -> str:
    """The channel UUID the bridge gives the leg it places for `key` (an offer, a click):
    the same key always names the same leg, and it is a real UUID."""
    return str(uuid.uuid5(LEG_NAMESPACE, key))


class EslBridge:
    """Connects one FreeSWITCH to the router (see the module docstring)."""

    def __init__(self, settings: BridgeSettings, config: AdminConfig, router: Any) -> None:
        self.settings = settings
        self.config = config
        self.router = router
        self.pbx_id = settings.pbx_id
        keys = router.keys
        self.status_key = keys.pbx_bridge(self.pbx_id)
        self.esl = EslClient(
            settings.esl,
            self._on_event,
            on_connected=self._on_connected,
            on_disconnected=self._on_disconnected,
            ignore_raw=lambda body: (
                job_tells_nothing(body, self.esl.waits_for) or self.presence.ignores_raw(body)
            ),
        )
        self._phones: dict[str, str] = {}
        self.presence = Presence(router, lambda: self._phones, settings.presence_ttl)
        self.book = CallBook(keys.pbx_calls(self.pbx_id))
        self.ctx = FlowContext(
            self.pbx_id,
            config,
            router.ops,
            self.book,
            leg_id,
            chooses_agent_legs=True,
            clock=now_ms,
        )
        self.flow = CallFlow(self.ctx)
        self.direct = DirectPipeline(router)
        self.command_reads = DirectPipeline(router, size=1)
        """The router command reader's own connection, held (no pool checkout per read)."""
        self.batcher = TickBatcher(router, self.direct)
        """Flows' and deferred writes' router steps, batched per loop iteration."""
        self.fs = FreeSwitch(self.esl, settings.api_timeout)
        self.intents = EslIntents(self.fs, config)
        self.commands = cmd.CommandStream(
            keys.pbx_commands(self.pbx_id), f"esl-bridge-{self.pbx_id}"
        )
        self._backlog = True
        """Read our own unacknowledged commands (after a start or a reconnect) first."""
        self._calls: PerKey[Callable[[], None]] = PerKey(lambda job: job())
        self.leftovers = Leftovers(self.ctx, self.batcher, self._calls, settings.deferred_window)
        self._slots = gevent.lock.BoundedSemaphore(settings.concurrency)
        self.reconciliations = 0
        self.last_repairs = Repairs()
        self._loaded = False
        self.redis_watch = MasterWatch()
        self._stop = gevent.event.Event()
        self._greenlets: list[gevent.Greenlet] = []

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        if self.settings.push_agents:
            push_agents(self.router, self.config)
        self._refresh_phones()
        self.router.run(self.commands.ensure_group())
        self.esl.start()
        for loop in (
            self._command_loop,
            lambda: self.leftovers.loop(self._stop),
            self._presence_loop,
            self._sweep_loop,
            self._status_loop,
            self._redis_loop,
        ):
            self._greenlets.append(gevent.spawn(self._forever, loop))
        log.info(
            "ESL bridge for %s: FreeSWITCH at %s:%d",
            self.pbx_id,
            self.settings.esl.host,
            self.settings.esl.port,
        )

    def run(self) -> None:
        """Start, then block until `stop()`."""
        self.start()
        self._stop.wait()
        self._shutdown()

    def stop(self) -> None:
        self._stop.set()

    def _shutdown(self) -> None:
        gevent.killall(self._greenlets, timeout=5)
        self.leftovers.write_all()
        self.esl.stop()
        try:
            self.router.redis.delete(self.status_key)
        except Exception as e:  # Redis may be what is failing; the key expires anyway
            log.debug("status key not removed: %s", e)
        log.info("ESL bridge for %s stopped", self.pbx_id)

    def _forever(self, loop: Any) -> None:
        """Run `loop` until stop; a failure is logged and the loop restarted after a pause."""
        while not self._stop.is_set():
            try:
                loop()
            except gevent.GreenletExit:
                raise
            except Exception:
                log.exception("%s failed; restarting it in 1 s", loop.__name__)
                self._stop.wait(1)

    def run_flow(self, flow: Flow, key: str) -> None:
        """Run a call-flow generator: router ops over Redis, intents over ESL. At most
        `concurrency` run at once; the others wait here (overload slows calls down, it
        does not drop them)."""
        with self._slots:
            run_sync(flow, self.ctx, self.batcher.run, self.intents, self.leftovers.deferred, key)

    # -- FreeSWITCH --------------------------------------------------------------------------

    def _on_connected(self) -> None:
        """After every (re)connection: catch up with what happened meanwhile."""
        if not self._loaded:
            loaded = self.router.run(self.book.load())
            log.info("%d calls on record from a previous run", loaded)
            self._loaded = True
        self._write_status()  # the new connection, before the repairs anyone may watch
        self.reconcile(full=True)
        self._backlog = True
        self.reconciliations += 1
        self._write_status()

    def _on_disconnected(self, reason: EslError) -> None:
        if self._stop.is_set():
            log.info("FreeSWITCH connection closed")
            return
        log.warning("FreeSWITCH connection lost (%s); reconnecting", reason)
        self._write_status()

    def _on_event(self, event: EslEvent) -> None:
        """From the ESL reader (`inline_events`: it must not block): queue the event behind
        the earlier ones of its call."""
        presence = self.presence
        if isinstance(event, Registration):
            user = event.username or event.user
            self._calls.submit("phones", lambda: presence.registration(user, event.registered))
            return
        if isinstance(event, ChannelEvent):
            work = presence.work_for(event, pending=self._calls.busy("phones"))
            if work is not None:
                self._calls.submit("phones", work)
        if not may_tell(event):
            return
        key = self._event_key(event)
        self._calls.submit(key, lambda: self._handle_event(event, key))

    def _event_key(self, event: EslEvent) -> str:
        """The call an event belongs to (all its legs share one key), else its own key."""
        book = self.book
        if isinstance(event, ChannelEvent):
            # A leg the bridge has not linked to its call yet (the customer's leg of an
            # outbound call before its CHANNEL_BRIDGE is handled) names it in its call UUID
            # or other leg; its events must still queue behind the call's.
            for uid in (event.unique_id, event.call_uuid, event.other_leg_unique_id):
                call = book.find(uid) if uid else None
                if call is not None:
                    return call.id
            return event.unique_id
        if isinstance(event, DialplanEvent) and event.unique_id:
            call = book.find(event.unique_id)
            return call.id if call is not None else event.unique_id
        if isinstance(event, BackgroundJob):
            leg = origination_uuid(event.command_arg)
            call = book.find(leg) if leg else None
            return call.id if call is not None else (leg or "jobs")
        return "events"

    def _handle_event(self, event: EslEvent, key: str) -> None:
        """The event's facts in ONE flow run, one after the other (a CHANNEL_BRIDGE and a
        CHANNEL_HANGUP tell two): each still runs only if it concerns a call when its turn
        comes, and after a fact that FreeSWITCH's link stopped, the next ones run still."""
        self._run_facts(facts_of(event, lambda uid: self.book.find(uid) is not None), key)

    def _run_facts(self, facts: list[Fact], key: str) -> None:
        at = [0]
        while at[0] < len(facts):
            try:
                self.run_flow(self._facts_flow(facts, at), key)
                return
            except PbxUnavailable as e:
                log.warning(
                    "handling %s stopped: FreeSWITCH is not connected (%s)", facts[at[0]], e
                )
                at[0] += 1

    def _facts_flow(self, facts: list[Fact], at: list[int]) -> Flow:
        """`facts[at[0]:]` as one flow; `at[0]` is the fact running."""
        flow = self.flow
        while at[0] < len(facts):
            fact = facts[at[0]]
            log.debug("fact %s", fact)
            if flow.concerns(fact):  # not e.g. the agent leg's end after its call's
                yield from flow.fact(fact)
            at[0] += 1

    # -- router commands -------------------------------------------------------------------

    def _command_loop(self) -> None:
        while not self._stop.is_set():
            if not self.esl.wait_connected(1):
                continue
            backlog = self._backlog
            try:
                deliveries = self.router.run(
                    self.commands.read(backlog, None if backlog else 1000),
                    self.command_reads.execute,
                )
            except (RouterError, redis.RedisError) as e:
                if "NOGROUP" in str(e):  # Redis lost the group (failover, restart): make it
                    log.warning("the command stream lost its consumer group; creating it")
                    self._ensure_group()
                    continue
                log.error("reading PBX commands failed (%s); retrying in 1 s", e)
                self._stop.wait(1)
                continue
            if backlog and not deliveries:
                self._backlog = False
            for delivery in deliveries:
                if delivery.id not in self.leftovers.inflight:
                    self._command(delivery)

    def _command(self, delivery: cmd.Delivery) -> None:
        try:
            command = cmd.parse_command(delivery.fields)
        except cmd.BadCommand as e:
            log.error("ignoring router command %s: %s", delivery.id, e)
            self.leftovers.deferred.add("commands", [self.commands.ack_step(delivery.id)], [])
            return
        log.debug("router command %s", command)
        key = self.flow.key_of_command(command)
        self.leftovers.inflight.add(delivery.id)

        def job() -> None:
            try:
                self.run_flow(self.flow.command(command), key)
            except PbxUnavailable as e:
                # Not acknowledged: read again after the reconnection, once reconciled.
                log.warning("command %s waits for FreeSWITCH: %s", delivery.id, e)
                self.leftovers.inflight.discard(delivery.id)
                return
            except Exception:
                log.exception(
                    "command %s failed; acknowledged so it is not retried forever", delivery.id
                )
            # acknowledged after the flow's own writes, with the call's next router step
            # (or the leftovers' round trip); in flight until then
            self.leftovers.ack_later(key, delivery.id, self.commands.ack_step(delivery.id))

        self._calls.submit(key, job)

    # -- reconciliation ------------------------------------------------------------------------

    def reconcile(self, full: bool) -> Repairs:
        """Repair calls (and with `full`, the phones' states and the router side) from what
        FreeSWITCH lists now. Raises EslError if FreeSWITCH cannot be asked (the caller
        retries). Periodic sweeps leave presence alone: events keep it current while
        connected, and a snapshot older than the events already handled would undo them."""
        repairs = Repairs()
        taken_ms = self.ctx.now()
        rows = self.esl.show_channels(timeout=self.settings.api_timeout)
        live = {row.uuid: live_channel(row) for row in rows}
        if full:
            rebuild_presence(self.esl, self.presence, rows, self.settings.api_timeout)
        r = self.flow.reconciler

        def job(call_id: str) -> None:
            try:
                call = self.book.get(call_id)
                if call is not None:
                    self.run_flow(r.call(call, live, repairs, 0 if full else taken_ms), call_id)
            except PbxUnavailable as e:
                log.warning("reconciling call %s stopped: %s", call_id, e)

        calls = [c.id for c in self.book.all()]
        run_and_wait(self._calls, {c: functools.partial(job, c) for c in calls}, 30)
        strangers = {k: ch for k, ch in live.items() if self.book.find(k) is None}
        for ch in strangers.values():

            def stranger(one: Any = ch) -> None:
                self.run_flow(r.strangers({one.id: one}, repairs), one.id)

            self._calls.submit(ch.id, stranger)
        if full:
            agents = list(self._phones.values())
            self._calls.submit(
                "reconcile",
                lambda: self.run_flow(r.router_side(live, agents, repairs), "reconcile"),
            )
        if repairs:
            log.warning("reconciled with FreeSWITCH: %s", repairs)
        self.last_repairs = repairs
        return repairs

    # -- Redis failover ----------------------------------------------------------------------

    def _redis_loop(self) -> None:
        while not self._stop.wait(MasterWatch.INTERVAL_S):
            try:
                identity = master_identity(self.router.redis)
            except redis.RedisError:
                self.redis_watch.unreachable()
                continue
            if self.redis_watch.answered(identity):
                self._after_redis_change()

    def _after_redis_change(self) -> None:
        """Redis was away, or another server (a promoted replica) answers: as after a restart
        (the group again, calls and phones reconciled, unacknowledged commands re-read)."""
        log.warning("Redis answers again (or another server does): reconciling the calls")
        self.direct.reset()
        self.command_reads.reset()
        self._ensure_group()
        if self.esl.connected:
            try:
                self.reconcile(full=True)
                self.reconciliations += 1
            except (EslError, RouterError) as e:
                log.warning("reconciliation after the Redis change skipped: %s", e)
        self._backlog = True

    def _ensure_group(self) -> None:
        try:
            self.router.run(self.commands.ensure_group())
        except (RouterError, redis.RedisError) as e:
            log.error("cannot create the command stream's group (%s); retrying later", e)

    # -- periodic work ---------------------------------------------------------------------

    def _refresh_phones(self) -> None:
        try:
            agents = self.router.agents()
        except RouterError as e:
            log.warning("cannot read the router's agents: %s", e)
            agents = []
        self._phones = phones_on(self.config, self.pbx_id, agents)

    def _presence_loop(self) -> None:
        while not self._stop.wait(self.settings.presence_refresh):
            self._refresh_phones()
            if self.esl.connected:
                self.presence.refresh()

    def _sweep_loop(self) -> None:
        while not self._stop.wait(self.settings.sweep_interval):
            if self.esl.connected:
                try:
                    self.reconcile(full=False)
                except EslError as e:
                    log.warning("periodic reconciliation skipped: %s", e)

    def _status_loop(self) -> None:
        while True:
            self._write_status()
            if self._stop.wait(self.settings.status_interval):
                return

    def _write_status(self) -> None:
        status = {
            "kind": "freeswitch",
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "esl": f"{self.settings.esl.host}:{self.settings.esl.port}",
            "connected": int(self.esl.connected),
            "connections": self.esl.connections,
            "reconciliations": self.reconciliations,
            "calls": len(self.book),
        }
        try:
            pipe = self.router.redis.pipeline()
            pipe.hset(self.status_key, mapping=status)
            pipe.expire(self.status_key, int(self.settings.status_interval * 3) + 1)
            pipe.execute()
        except Exception as e:
            log.warning("cannot write the bridge status: %s", e)
