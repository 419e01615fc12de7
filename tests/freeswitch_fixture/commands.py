"""The API commands that act on the fake switch's channels, answered as mod_commands of
FreeSWITCH 1.10/1.11 does: `originate` (`&park()` or `&eavesdrop(<uuid>)`), `uuid_bridge`,
`uuid_kill`, `uuid_exists`, `uuid_getvar`, `uuid_broadcast`, `uuid_transfer`,
`sched_transfer`, `sched_del`, `reloadxml`. Call control's commands are in control.py.

A command that goes on after answering (originate parks the answered leg, uuid_bridge
bridges after replying) returns its reply and what it does next (api.ApiResult).
"""

from __future__ import annotations

import re
import uuid as uuid_module

from .api import ApiResult
from .channels import Channels
from .dialplan_runner import DialplanRunner
from .leg import Leg
from .phones import resolve, split_variables
from .sequences import ORIGINATED_PARK, unbridged_outbound
from .templates import strip_other_leg, template

EAVESDROP = re.compile(r"&eavesdrop\(([^()\s]+)\)")


class ChannelCommands:
    """Registers the channel commands on the switch; their state lives in `channels`."""

    def __init__(self, channels: Channels, runner: DialplanRunner) -> None:
        self.channels = channels
        self.runner = runner
        channels.server.api_handlers.update(
            {
                "originate": self._originate,
                "uuid_bridge": self._uuid_bridge,
                "uuid_kill": self._uuid_kill,
                "uuid_exists": self._uuid_exists,
                "uuid_getvar": self._uuid_getvar,
                "uuid_broadcast": self._uuid_broadcast,
                "uuid_transfer": self.uuid_transfer,
                "sched_del": self._sched_del,
                "sched_transfer": self._sched_transfer,
                "reloadxml": lambda arg: "+OK [Success]\n",
            }
        )

    def _originate(self, arg: str | None) -> ApiResult:
        usage = (
            "-USAGE: <call_url> <exten>|&<application_name>(<app_args>) [<dialplan>] [<context>] "
            "[<cid_name>] [<cid_num>] [<timeout_sec>]\n"
        )
        words = (arg or "").split()
        eavesdrop = EAVESDROP.fullmatch(words[1]) if len(words) > 1 else None
        if len(words) < 2 or (words[1] != "&park()" and eavesdrop is None):
            return usage
        variables, endpoint = split_variables(words[0])
        phone, failure, profile, host, user = resolve(
            endpoint, self.channels.phones, self.channels.trunk_phone
        )
        if failure is not None:
            return f"-ERR {failure}\n"
        assert phone is not None
        vars_ = dict(variables)
        leg = Leg(
            uuid=vars_.get("origination_uuid") or str(uuid_module.uuid4()),
            direction="outbound",
            number=user,
            name="Outbound Call",
            host=host,
            profile=profile,
            variables=variables,
        )
        timeout = float(vars_.get("originate_timeout", "60"))
        with self.channels.lock:
            if leg.uuid in self.channels.legs:
                return "-ERR DESTINATION_OUT_OF_ORDER\n"
            self.channels.legs[leg.uuid] = leg
        if not self.channels.call_out(leg, phone.behaviour, timeout):
            return f"-ERR {leg.cause}\n"

        def park() -> None:
            with self.channels.lock:
                if eavesdrop is not None:  # the app runs; a listener never parks
                    leg.eavesdrop, leg.state = eavesdrop.group(1), "eavesdropping"
                    if eavesdrop.group(1) not in self.channels.legs:
                        self.channels.end(leg, "NORMAL_CLEARING")  # nothing to listen to: it ends
                    return
                for ref in ORIGINATED_PARK:
                    self.channels.emit(ref, leg)
                if leg.state == "answering":
                    leg.state = "parked"

        return f"+OK {leg.uuid}\n", park

    def _uuid_bridge(self, arg: str | None) -> ApiResult:
        words = (arg or "").split()
        if len(words) < 2:
            return "-USAGE: <uuid> <other_uuid>\n"
        with self.channels.lock:
            a, b = self.channels.legs.get(words[0]), self.channels.legs.get(words[1])
            if (
                a is None
                or b is None
                or a.state not in ("parked", "bridged")
                or b.state not in ("parked", "answering", "bridged")
            ):
                return "-ERR Invalid uuid\n"

        def bridge() -> None:
            # a bridged leg leaves its bridge; its old peer follows its vars
            with self.channels.lock:
                for leg in (a, b):
                    if leg.peer is not None and leg.peer not in (a, b):
                        self.channels.detach(leg.peer)
                a.state = b.state = "bridging"
            self.channels.bridge(a, b)

        return f"+OK {b.uuid}\n", bridge

    def _uuid_kill(self, arg: str | None) -> ApiResult:
        words = (arg or "").split()
        if not words:
            return "-USAGE: <uuid> [cause]\n"
        with self.channels.lock:
            leg = self.channels.legs.get(words[0])
            if leg is None:
                return "-ERR No such channel!\n"
        cause = words[1] if len(words) > 1 else "NORMAL_CLEARING"

        def kill() -> None:
            if leg.uuid in self.channels.legs:
                self.channels.hangup(leg.uuid, cause)

        return "+OK\n", kill

    def _uuid_broadcast(self, arg: str | None) -> str:
        words = (arg or "").split()
        if len(words) < 2:
            return "-USAGE: <uuid> <path> [aleg|bleg|holdb|both]\n"
        with self.channels.lock:
            leg = self.channels.legs.get(words[0])
            if leg is None:
                return "-ERR No such channel!\n"
            self.channels.broadcasts.append(
                (words[0], words[1], words[2] if len(words) > 2 else "aleg")
            )
            if leg.state == "parked":
                leg.playing = words[1]
        return "+OK Message sent\n"

    def _sched_del(self, arg: str | None) -> str:
        with self.channels.lock:
            found = self.channels.scheduled.pop((arg or "").strip(), None) is not None
        return f"+OK Deleted: {int(found)}\n"

    def _sched_transfer(self, arg: str | None) -> str:
        """sched_transfer [+]<time> <uuid> <extension> [<dialplan>] [<context>]: recorded; the
        test fires it with `fire_safety_net`."""
        words = (arg or "").split()
        if len(words) < 3:
            return "-USAGE: [+]<time> <uuid> <extension> [<dialplan>] [<context>]\n"
        with self.channels.lock:
            if words[1] not in self.channels.legs:
                return "-ERR No such channel!\n"
            self.channels.scheduled[words[1]] = " ".join(words[2:])
        return "+OK\n"

    def uuid_transfer(self, arg: str | None) -> ApiResult:
        """uuid_transfer <uuid> [-bleg|-both] <dest> [<dialplan>] [<context>].

        `park inline` parks the channel again (a bridged caller leaves its bridge: CHANNEL_UNBRIDGE
        then CHANNEL_PARK; its peer stays parked). Otherwise the channel leaves park
        (CHANNEL_UNPARK, CHANNEL_EXECUTE_COMPLETE) and, with `use_dialplan`, runs the generated
        dialplan at <dest> in <context>; without it, what follows is up to the test."""
        words = [w for w in (arg or "").split() if w[:1] != "-"]
        if len(words) < 2:
            return "-USAGE: <uuid> [-bleg|-both] <dest-exten> [<dialplan>] [<context>]\n"
        uuid, dest = words[0], words[1]
        context = words[3] if len(words) > 3 else "default"
        with self.channels.lock:
            leg = self.channels.legs.get(uuid)
            if leg is None:
                return "-ERR No such channel!\n"
            if dest == "park" and words[2:3] == ["inline"]:
                return "+OK\n", lambda: self.channels.park_again(leg)
            if leg.state == "bridged" and leg.peer is not None:
                self.channels.detach(leg.peer)  # its partner stays (park_after_bridge) or hangs up
                leg.state = "parked"
            if leg.state not in ("parked", "answering"):
                return "-ERR the fake switch transfers parked channels only\n"
            leg.state = "transferred"
            self.channels.transfers.append((leg.uuid, " ".join(words[1:])))

        def leave_park() -> None:
            with self.channels.lock:
                leg.playing = ""
                if leg.direction == "inbound":
                    for index in (33, 34):  # the caller leaving park in 04, without its peer
                        self.channels.emit(strip_other_leg(template("04", index)), leg)
                else:
                    for index in (38, 39):  # the agent leg leaving park in 04
                        self.channels.emit(unbridged_outbound(template("04", index)), leg)
            if self.channels.dialplan is not None:
                self.runner.start(leg, context, dest)

        return "+OK\n", leave_park

    def _uuid_exists(self, arg: str | None) -> str:
        with self.channels.lock:
            return "true" if (arg or "").strip() in self.channels.legs else "false"

    def _uuid_getvar(self, arg: str | None) -> str:
        words = (arg or "").split()
        if len(words) < 2:
            return "-USAGE: <uuid> <var>\n"
        with self.channels.lock:
            leg = self.channels.legs.get(words[0])
            if leg is None:
                return "-ERR No such channel!\n"
            return dict(leg.variables).get(words[1], "_undef_")
