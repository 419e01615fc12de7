"""The fake switch following the generated dialplan (dialplan.py hunts it): what an entry
extension sets before the caller parks, and what a channel runs when it is transferred to an
extension - `set`, `sched_cancel`, `event` (a CUSTOM event), `hangup`, `bridge` (originate
the B leg, bridge on answer). Anything else (the admin's own contexts, voicemail...) is left
to the test.
"""

from __future__ import annotations

import threading
import uuid as uuid_module

from .channels import Channels
from .dialplan import Action, expand
from .events import FsEvent
from .leg import Leg
from .phones import resolve, split_variables
from .templates import strip_other_leg, template


class DialplanRunner:
    """Runs the generated dialplan (`channels.dialplan`) on the switch's channels."""

    def __init__(self, channels: Channels) -> None:
        self.channels = channels

    def entry(
        self, context: str, destination: str, caller: str, variables: dict[str, str] | None
    ) -> tuple[list[tuple[str, str]], str]:
        """What the entry dialplan does to a call from `caller` to `destination` before it
        parks: the variables it sets (after `variables`, in order) and the destination of its
        safety-net `sched_transfer` ("" if none)."""
        known = {"caller_id_number": caller, **(variables or {})}
        pairs: list[tuple[str, str]] = list((variables or {}).items())
        schedule = ""
        actions = self._follow(context, destination, known)
        for action in actions:
            data = expand(action.data, {**known, **dict(pairs)})
            if action.application == "set":
                name, _, value = data.partition("=")
                pairs.append((name, value))
            elif action.application == "sched_transfer":
                schedule = data.split(" ", 1)[1] if " " in data else data
            elif action.application == "park":
                break
            elif action.application == "playback":
                # the announcement, before park
                self.channels.executed.append(("", "playback", data))
            elif action.application not in ("answer",):
                raise AssertionError(f"the fake switch cannot run {action} at an entry point")
        else:
            raise AssertionError(f"{destination} does not reach park in the dialplan: {actions}")
        return pairs, schedule

    def _follow(self, context: str, destination: str, variables: dict[str, str]) -> list[Action]:
        """The actions a call to `destination` in `context` runs, through `transfer`s."""
        assert self.channels.dialplan is not None
        for _ in range(10):
            actions = self.channels.dialplan.hunt(context, destination, variables)
            if actions is None:
                raise AssertionError(f"no extension for {destination} in context {context}")
            if actions and actions[0].application == "transfer":
                words = expand(actions[0].data, {**variables, "destination_number": destination})
                destination, _, context = words.split()[:3]
                continue
            return actions
        raise AssertionError("transfer loop in the dialplan")

    def start(self, leg: Leg, context: str, destination: str) -> None:
        """Run the dialplan at `destination` of `context` on `leg`, in a thread of its own."""
        threading.Thread(
            target=self.run, args=(leg, context, destination), name="fake-fs-dialplan", daemon=True
        ).start()

    def run(self, leg: Leg, context: str, destination: str) -> None:
        """Run what the generated dialplan does at `destination` of `context` on `leg`."""
        assert self.channels.dialplan is not None
        variables = dict(leg.variables)
        variables.setdefault("caller_id_number", leg.number)
        actions = self.channels.dialplan.hunt(context, destination, variables)
        if actions is None:
            self.channels.hangup(leg.uuid, "NO_ROUTE_DESTINATION")
            return
        for action in actions:
            if leg.state == "gone":
                return
            data = expand(action.data, {**variables, "destination_number": destination})
            self.channels.executed.append((leg.uuid, action.application, data))
            app = action.application
            if app == "set":
                name, _, value = data.partition("=")
                variables[name] = value
                with self.channels.lock:
                    leg.variables = [*leg.variables, (name, value)]
            elif app == "sched_cancel":
                with self.channels.lock:
                    self.channels.scheduled.pop(leg.uuid, None)
            elif app == "event":
                self._app_event(leg, data)
            elif app == "hangup":
                self.channels.hangup(leg.uuid, data or "NORMAL_CLEARING")
                return
            elif app == "bridge":
                if self._bridge_app(leg, data):
                    return  # the call goes on until a side hangs up; then both end
            else:  # transfer to the admin's own contexts, voicemail...: the test plays it
                return
        if leg.state != "gone":
            self.channels.hangup(leg.uuid, "NORMAL_CLEARING")

    def _app_event(self, leg: Leg, data: str) -> None:
        """The `event` application: a CUSTOM event with these headers plus the channel's data
        (mod_dptools event_function adds switch_channel_event_set_data)."""
        pairs = [item.split("=", 1) for item in data.split(",") if item]
        headers = {name.strip(): value.strip() for name, value in pairs}
        subclass = headers.pop("Event-Subclass", "")
        headers.pop("Event-Name", None)
        park = ("03", 16) if leg.direction == "inbound" else ("04", 30)
        with self.channels.lock:
            channel = self.channels.renderer.render(
                strip_other_leg(template(*park)),
                caller=leg.view() if leg.direction == "inbound" else None,
                agent=leg.view() if leg.direction != "inbound" else None,
            )
            names = [k for k, _ in channel.headers]
            data_headers = channel.headers[names.index("Event-Sequence") + 1 :]
            event = FsEvent(
                "CUSTOM",
                (
                    ("Event-Subclass", subclass),
                    *self.channels.server.events.prefix(
                        "CUSTOM", "mod_dptools.c", "event_function", 1373
                    ),
                    *headers.items(),
                    *data_headers,
                ),
                subclass=subclass,
            )
            self.channels.custom_events.append(event)
            self.channels.server.fire(event)

    def _bridge_app(self, a: Leg, dialstring: str) -> bool:
        """The `bridge` application: originate the B leg; on answer bridge it with `a`."""
        variables, endpoint = split_variables(dialstring)
        phone, failure, profile, host, user = resolve(
            endpoint, self.channels.phones, self.channels.trunk_phone
        )
        if failure is not None or phone is None:
            return False
        b = Leg(
            uuid=str(uuid_module.uuid4()),
            direction="outbound",
            number=user,
            name="Outbound Call",
            host=host,
            profile=profile,
            variables=[("originate_timeout", dict(variables).get("originate_timeout", "60"))],
        )
        timeout = float(dict(variables).get("originate_timeout", "60"))
        with self.channels.lock:
            self.channels.legs[b.uuid] = b
            a.dialing = b
        answered = self.channels.call_out(b, phone.behaviour, timeout)
        with self.channels.lock:
            a.dialing = None
            if not answered:
                return False
            if a.state == "gone":
                self.channels.end(b, "ORIGINATOR_CANCEL")
                return True
            self.channels.bridge(a, b)
        return True
