"""The ESL bridge: one FreeSWITCH <-> the router. gevent, in its own process (`implus esl-bridge`).

    bridge = EslBridge(settings, config, RouterClient.from_url(url, domain))
    bridge.run()            # until stop()

Greenlets: the ESL client's own (reader, event dispatcher, reconnect supervisor), the
router command reader, presence renewal, a periodic reconciliation sweep, the status key.
FreeSWITCH events arrive in order in the dispatcher; router commands in the command reader;
both take the per-call lock (esl_bridge.switchboard) before touching a call.

What happens to calls is in esl_bridge.inbound / .outbound; how the bridge catches up after
a reconnection or a restart in esl_bridge.reconcile.
"""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

import gevent
import gevent.event

from admin_config.model import AdminConfig
from esl_bridge import commands as cmds
from esl_bridge.agents import phones_on, push_agents
from esl_bridge.client import EslClient
from esl_bridge.dialing import origination_uuid
from esl_bridge.errors import EslError
from esl_bridge.events import BackgroundJob, ChannelEvent, DialplanEvent, EslEvent, Registration
from esl_bridge.inbound import InboundCalls
from esl_bridge.ordering import PerKey
from esl_bridge.outbound import OutboundCalls
from esl_bridge.presence import Presence
from esl_bridge.reconcile import reconcile
from esl_bridge.records import CallTable, Direction
from esl_bridge.settings import BridgeSettings
from esl_bridge.switchboard import Switchboard
from router.errors import RouterError

log = logging.getLogger("esl_bridge")


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
        )
        self._phones: dict[str, str] = {}
        self.presence = Presence(router, lambda: self._phones, settings.presence_ttl)
        self.sb = Switchboard(
            settings,
            config,
            router,
            self.esl,
            CallTable(router.redis, keys.pbx_calls(self.pbx_id)),
            self.presence,
        )
        self.inbound = InboundCalls(self.sb)
        self.outbound = OutboundCalls(self.sb)
        self.commands = cmds.CommandStream(
            router.redis, keys.pbx_commands(self.pbx_id), consumer=f"esl-bridge-{self.pbx_id}"
        )
        self._events: PerKey[EslEvent] = PerKey(self._handle_event)
        self.reconciliations = 0
        self._loaded = False
        self._stop = gevent.event.Event()
        self._greenlets: list[gevent.Greenlet] = []

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        if self.settings.push_agents:
            push_agents(self.router, self.config)
        self._refresh_phones()
        self.commands.ensure_group()
        self.sb.calls.load()
        self.esl.start()
        for loop in (self._command_loop, self._presence_loop, self._sweep_loop, self._status_loop):
            self._greenlets.append(gevent.spawn(self._forever, loop))
        log.info(
            "ESL bridge for %s: FreeSWITCH at %s:%d, %d calls on record",
            self.pbx_id,
            self.settings.esl.host,
            self.settings.esl.port,
            len(self.sb.calls),
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

    # -- FreeSWITCH --------------------------------------------------------------------------

    def _on_connected(self) -> None:
        """After every (re)connection: catch up with what happened meanwhile."""
        count = reconcile(self.sb, self.inbound, self.outbound, reload=not self._loaded)
        self._loaded = True
        self.reconciliations += 1
        log.info("reconciled %d calls with FreeSWITCH (pass %d)", count, self.reconciliations)
        self._write_status()

    def _on_disconnected(self, reason: EslError) -> None:
        if self._stop.is_set():
            log.info("FreeSWITCH connection closed")
            return
        log.warning("FreeSWITCH connection lost (%s); reconnecting", reason)
        self._write_status()

    def _on_event(self, event: EslEvent) -> None:
        """From the ESL dispatcher: queue the event behind the earlier ones of its call."""
        self._events.submit(self._event_key(event), event)

    def _event_key(self, event: EslEvent) -> str:
        """The call an event belongs to (all its legs share one key), else its own key."""
        if isinstance(event, ChannelEvent):
            # A leg the bridge has not linked to its call yet (the customer's leg of an
            # outbound call before its CHANNEL_BRIDGE is handled) names it in its call UUID
            # or other leg; its events must still queue behind the call's.
            for uuid in (event.unique_id, event.call_uuid, event.other_leg_unique_id):
                rec = self.sb.calls.by_leg(uuid) if uuid else None
                if rec is not None:
                    return rec.call_id
            return event.unique_id
        if isinstance(event, DialplanEvent) and event.unique_id:
            rec = self.sb.calls.by_leg(event.unique_id)
            return rec.call_id if rec is not None else event.unique_id
        if isinstance(event, BackgroundJob):
            leg = origination_uuid(event.command_arg)
            rec = self.sb.calls.by_leg(leg) if leg else None
            return rec.call_id if rec is not None else (leg or "jobs")
        return "phones"

    def _handle_event(self, event: EslEvent) -> None:
        try:
            if isinstance(event, ChannelEvent):
                self._channel_event(event)
            elif isinstance(event, BackgroundJob):
                self._background_job(event)
            elif isinstance(event, Registration):
                self.presence.registration(event.username or event.user, event.registered)
            elif isinstance(event, DialplanEvent):
                self._dialplan_event(event)
        except Exception:
            log.exception("handling %s failed", getattr(event, "name", event))

    def _channel_event(self, event: ChannelEvent) -> None:
        uid, name = event.unique_id, event.name
        if name == "CHANNEL_CREATE":
            self.presence.channel_up(uid, event.channel_name)
        rec = self.sb.calls.by_leg(uid)
        if name == "CHANNEL_PARK":
            if rec is None:
                if event.variable("implus_entry"):
                    self.inbound.parked(event)
                elif event.variable("implus_caller") or event.variable("implus_dial"):
                    # an agent leg answered for an offer nobody holds any more
                    log.info("hanging up agent leg %s: no call holds it any more", uid)
                    self.sb.kill(uid, "ORIGINATOR_CANCEL")
            elif rec.direction is Direction.INBOUND:
                if uid == rec.call_id:
                    self.inbound.parked_again(rec)
                elif uid == rec.agent_leg:
                    self.inbound.agent_answered(rec.call_id, uid)
            elif uid == rec.call_id:
                self.outbound.agent_answered(rec.call_id)
        elif name == "CHANNEL_BRIDGE" and rec is not None and rec.direction is Direction.OUTBOUND:
            self.outbound.bridged(rec, event)
        elif name == "CHANNEL_HANGUP" and rec is not None and not rec.ended_by:
            # The first leg to hang up ended the call (HANGUP_COMPLETE order says nothing:
            # FreeSWITCH completes the B leg first whoever hung up).
            self.sb.ended_by(rec, uid)
        elif name == "CHANNEL_HANGUP_COMPLETE":
            self.presence.channel_down(uid)
            if rec is not None:
                if rec.direction is Direction.INBOUND:
                    self.inbound.leg_ended(rec, uid, event.hangup_cause)
                else:
                    self.outbound.leg_ended(rec, uid, event.hangup_cause)

    def _background_job(self, job: BackgroundJob) -> None:
        """An `originate` that failed before any channel event could say so (e.g.
        USER_NOT_REGISTERED creates no channel). Matched by the UUID it chose, so the result
        of a job a previous bridge process started is understood too."""
        if job.ok or job.command != "originate":
            return
        leg = origination_uuid(job.command_arg)
        rec = self.sb.calls.by_leg(leg) if leg else None
        if rec is None or leg is None:
            return
        if rec.direction is Direction.INBOUND:
            self.inbound.ring_failed(rec.call_id, leg, job.result)
        elif leg == rec.call_id:
            self.outbound.agent_leg_ended(rec, job.result)

    def _dialplan_event(self, event: DialplanEvent) -> None:
        if not event.unique_id:
            return
        if event.subclass == "implus::overflow":
            self.inbound.dialplan_overflow(event.unique_id, event.destination)
        elif event.subclass == "implus::outbound":
            self.outbound.dialing(event.unique_id, event.dial, event.trunk)

    # -- router commands -------------------------------------------------------------------

    def _command_loop(self) -> None:
        while not self._stop.is_set():
            if not self.esl.wait_connected(1):
                continue
            for delivery in self.commands.read():
                self._handle_command(delivery)
                self.commands.ack(delivery.id)

    def _handle_command(self, delivery: cmds.Delivery) -> None:
        try:
            command = cmds.parse_command(delivery.fields)
        except cmds.BadCommand as e:
            log.error("ignoring router command %s: %s (%r)", delivery.id, e, dict(delivery.fields))
            return
        if delivery.age_s > self.settings.command_max_age:
            log.warning(
                "dropping %s issued %.0f s ago (the bridge was away)", command.type, delivery.age_s
            )
            if isinstance(command, cmds.RingAgent | cmds.Callback):
                self.sb.offer_failed(command.offer, "unavailable")
            return
        log.debug("router command %s", command)
        try:
            self._dispatch(command)
        except (RouterError, EslError) as e:
            log.error("%s failed: %s", command.type, e)
        except Exception:
            log.exception("%s failed", command.type)

    def _dispatch(self, command: cmds.Command) -> None:
        if isinstance(command, cmds.RingAgent):
            self.inbound.ring(command)
        elif isinstance(command, cmds.CancelRing):
            rec = self.sb.calls.by_offer(command.offer)
            if rec is None:
                return
            if rec.direction is Direction.INBOUND:
                self.inbound.cancel_ring(rec, command)
            else:
                self.outbound.cancel_ring(rec, command)
        elif isinstance(command, cmds.Callback | cmds.ClickToCall):
            self.outbound.start(command)
        elif isinstance(command, cmds.Overflow):
            self.inbound.overflow(command)
        elif isinstance(command, cmds.Hold):
            self.inbound.hold(command)

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
                    reconcile(self.sb, self.inbound, self.outbound, reload=False, presence=False)
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
            "calls": len(self.sb.calls),
        }
        try:
            pipe = self.router.redis.pipeline()
            pipe.hset(self.status_key, mapping=status)
            pipe.expire(self.status_key, int(self.settings.status_interval * 3) + 1)
            pipe.execute()
        except Exception as e:
            log.warning("cannot write the bridge status: %s", e)
