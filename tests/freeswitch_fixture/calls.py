"""The fake FreeSWITCH's call model: entry-point calls, originated legs, bridges, hang-ups.

The test drives the customer side (`inbound_call`, `dial`, `hangup`) and decides how each
phone answers (`add_phone(user, Answer(after=0.05))`, `Ring()`, `Busy()`, `Unreachable()`...,
from phones.py); the code under test drives the switch over ESL (`bgapi originate`,
`uuid_bridge`, `uuid_kill`, `show channels as json`), exactly as it would a real FreeSWITCH.

Event sequences follow the recordings (sequences.py): an entry-point call is 03, an answered
originate and a bridge are 04, a failed originate is 05. The parts: channels.py (the legs
and their transitions, which CallModel extends), commands.py (the API commands on channels),
dialplan_runner.py (following the generated dialplan), control.py (call control's commands).
"""

from __future__ import annotations

import time
import uuid as uuid_module
from collections.abc import Callable
from typing import TYPE_CHECKING

from .channels import Channels
from .commands import ChannelCommands
from .control import CallControlModel
from .dialplan import Dialplan
from .dialplan_runner import DialplanRunner
from .leg import Leg, channel_row
from .phones import Answer, Behaviour, Phone, registration_row
from .sequences import INBOUND_ANSWER_PARK, INBOUND_SET, INBOUND_UNTIL_SET

if TYPE_CHECKING:
    from .server import FakeFreeSwitch


class CallModel(Channels):
    """Channels of the fake switch as the test drives them, and the API commands acting on
    them (registered on `server`)."""

    def __init__(self, server: FakeFreeSwitch) -> None:
        super().__init__(server)
        self.runner = DialplanRunner(self)
        self.commands = ChannelCommands(self, self.runner)
        server.channel_rows = self.rows
        server.registration_rows = self.registration_rows
        self.control = CallControlModel(self)
        """Call control's commands (uuid_hold, uuid_record...) and what they did."""

    # -- phones -----------------------------------------------------------------------------------

    def add_phone(
        self,
        user: str,
        behaviour: Behaviour | None = None,
        *,
        register: bool = True,
        domain: str = "127.0.0.1",
        contact_host: str = "127.0.0.1:5064",
    ) -> Phone:
        """A phone reachable as `user/<user>` (if registered) or `sofia/<profile>/<user>@<host>`
        or, for a customer, `sofia/gateway/<gateway>/<user>`."""
        phone = Phone(user, behaviour or Answer(), False, domain, contact_host)
        self.phones[user] = phone
        if register:
            self.register(user)
        return phone

    def register(self, user: str) -> None:
        """Phone `user` registers (sofia::register, PRESENCE_IN)."""
        phone = self.phones[user]
        phone.registered = True
        self.server.register(user, phone.domain, phone.contact_host)

    def unregister(self, user: str) -> None:
        """Phone `user` unregisters (PRESENCE_IN, sofia::unregister)."""
        phone = self.phones[user]
        phone.registered = False
        self.server.unregister(user, phone.domain, phone.contact_host)

    def set_behaviour(self, user: str, behaviour: Behaviour) -> None:
        """From now on, phone `user` reacts to an INVITE with `behaviour`."""
        self.phones[user].behaviour = behaviour

    # -- the customer side ------------------------------------------------------------------------

    def inbound_call(
        self,
        destination: str = "800",
        caller: str = "+15550100",
        *,
        caller_name: str | None = None,
        variables: dict[str, str] | list[tuple[str, str]] | None = None,
        caller_host: str = "127.0.0.1:5066",
        profile: str = "internal",
        uuid: str | None = None,
    ) -> str:
        """A customer calls entry point `destination`; the dialplan sets `variables` (one
        `set` each, in order), answers and parks. Returns the channel's UUID once parked."""
        pairs = list(variables.items()) if isinstance(variables, dict) else list(variables or [])
        leg = Leg(
            uuid=uuid or str(uuid_module.uuid4()),
            direction="inbound",
            number=caller,
            name=caller_name or caller,
            host=caller_host,
            profile=profile,
            destination=destination,
            variables=pairs,
        )
        with self.lock:
            self.legs[leg.uuid] = leg
            leg.mark("created")
            for ref in INBOUND_UNTIL_SET:
                self.emit(ref, leg, entry_set=0)
            for k, (name, value) in enumerate(pairs):
                self.emit(INBOUND_SET[0], leg, entry_set=k, application_data=f"{name}={value}")
                self.emit(INBOUND_SET[1], leg, entry_set=k + 1, application_data=f"{name}={value}")
            for ref in INBOUND_ANSWER_PARK:
                if ref == ("03", 12):
                    leg.mark("answered")
                self.emit(ref, leg)
            leg.state = "parked"
            self.scheduled.setdefault(leg.uuid, "")
        return leg.uuid

    def leg(self, uuid: str) -> Leg | None:
        """The live channel `uuid`, or None once it has ended."""
        with self.lock:
            return self.legs.get(uuid)

    def wait_for(self, predicate: Callable[[], object], timeout: float = 10.0) -> None:
        """Wait (this thread) until `predicate()` is true."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"fake FreeSWITCH: condition not met within {timeout} s")
            time.sleep(0.01)

    # -- the generated dialplan -------------------------------------------------------------

    def use_dialplan(self, files: dict[str, str]) -> Dialplan:
        """Follow the rendered FreeSWITCH files (path -> text, as `implus dialplan render`
        writes them): `dialplan/implus.xml` and `dialplan/<context>/00_implus.xml`."""
        plan = Dialplan()
        for path, text in files.items():
            parts = path.split("/")
            if parts[0] != "dialplan":
                continue
            if len(parts) == 2:
                plan.load(text)
            else:
                plan.load_include(parts[1], text)
        self.dialplan = plan
        return plan

    def dial(
        self,
        destination: str,
        caller: str,
        *,
        context: str = "public",
        caller_name: str | None = None,
        variables: dict[str, str] | None = None,
        uuid: str | None = None,
    ) -> str:
        """A customer dials `destination` and the generated dialplan takes the call: its
        `set`s become the channel's variables (with their CHANNEL_EXECUTE events), then it
        answers, schedules the safety-net transfer and parks. Returns the channel UUID."""
        if self.dialplan is None:
            raise AssertionError("call use_dialplan(rendered files) before dial()")
        pairs, schedule = self.runner.entry(context, destination, caller, variables)
        uuid_ = self.inbound_call(
            destination, caller, caller_name=caller_name, variables=pairs, uuid=uuid
        )
        with self.lock:
            self.scheduled[uuid_] = schedule
        return uuid_

    def fire_safety_net(self, uuid: str) -> None:
        """The entry dialplan's `sched_transfer` comes due: the caller leaves park for the
        overflow extension (with `use_dialplan`, it runs; else only recorded)."""
        with self.lock:
            target = self.scheduled.pop(uuid, None)
            leg = self.legs.get(uuid)
        if not target or leg is None:
            raise AssertionError(f"no scheduled transfer for channel {uuid}")
        result = self.commands.uuid_transfer(f"{uuid} {target}")
        assert isinstance(result, tuple), result
        result[1]()

    # -- show registrations / show channels -------------------------------------------------

    def registration_rows(self) -> list[dict[str, str]]:
        """`show registrations` rows: the core registrations table (reg_user order)."""
        with self.lock:
            phones = sorted((p for p in self.phones.values() if p.registered), key=lambda p: p.user)
            expires = str(int(time.time()) + 3600)
            return [registration_row(p, self.server.events.hostname, expires) for p in phones]

    def rows(self) -> list[dict[str, str]]:
        """`show channels` rows, oldest first (FreeSWITCH orders by created_epoch)."""
        with self.lock:
            legs = sorted(self.legs.values(), key=lambda leg: leg.times.get("created", 0))
            return [channel_row(leg, self.server.events.hostname) for leg in legs]
