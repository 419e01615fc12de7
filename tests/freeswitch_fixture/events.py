"""Events the fake FreeSWITCH fires, with FreeSWITCH's header layout.

Every event starts with the headers switch_event_prep_for_delivery adds (Event-Name through
Event-Sequence, as recorded). CUSTOM events reach event-socket clients with Event-Subclass
first: mod_event_socket sends a switch_event_dup, which creates the clone with its subclass
header before copying the others. The sofia::register / sofia::unregister and PRESENCE_IN
header lists follow mod_sofia's sofia_reg.c (no recording has them; see docs/freeswitch-esl.md).
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from dataclasses import dataclass
from email.utils import formatdate


@dataclass(frozen=True)
class FsEvent:
    """An event as FreeSWITCH holds it: ordered (name, decoded value) headers and a body."""

    name: str
    headers: tuple[tuple[str, str], ...]
    body: str | None = None
    subclass: str | None = None

    def get(self, name: str) -> str | None:
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), None)


class EventFactory:
    """Builds events with this switch's identity, clock and event sequence numbers."""

    def __init__(self, hostname: str = "vm", core_uuid: str | None = None) -> None:
        self.hostname = hostname
        self.core_uuid = core_uuid or str(uuid.uuid4())
        self.ipv4 = "127.0.0.1"
        self.ipv6 = "::1"
        self._sequence = itertools.count(1)
        self._lock = threading.Lock()

    def next_sequence(self) -> int:
        with self._lock:
            return next(self._sequence)

    def dates(self, now_us: int | None = None) -> dict[str, str]:
        """The Event-Date-* headers for `now_us` (microseconds since the epoch; default now)."""
        now_us = now_us if now_us is not None else time.time_ns() // 1000
        seconds = now_us / 1_000_000
        return {
            "Event-Date-Local": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds)),
            "Event-Date-GMT": formatdate(seconds, usegmt=True),
            "Event-Date-Timestamp": str(now_us),
        }

    def prefix(
        self, name: str, calling_file: str, calling_function: str, line: int
    ) -> list[tuple[str, str]]:
        """The headers switch_event_prep_for_delivery puts first, Event-Name to Event-Sequence."""
        return [
            ("Event-Name", name),
            ("Core-UUID", self.core_uuid),
            ("FreeSWITCH-Hostname", self.hostname),
            ("FreeSWITCH-Switchname", self.hostname),
            ("FreeSWITCH-IPv4", self.ipv4),
            ("FreeSWITCH-IPv6", self.ipv6),
            *self.dates().items(),
            ("Event-Calling-File", calling_file),
            ("Event-Calling-Function", calling_function),
            ("Event-Calling-Line-Number", str(line)),
            ("Event-Sequence", str(self.next_sequence())),
        ]

    def background_job(self, job_uuid: str, command: str, arg: str | None, body: str) -> FsEvent:
        """BACKGROUND_JOB as mod_event_socket's api_exec fires it (recorded in 04 and 05)."""
        headers = self.prefix("BACKGROUND_JOB", "mod_event_socket.c", "api_exec", 1569)
        headers += [("Job-UUID", job_uuid), ("Job-Command", command)]
        if arg:
            headers.append(("Job-Command-Arg", arg))
        return FsEvent("BACKGROUND_JOB", tuple(headers), body or "Command returned no output!")

    def _custom(self, subclass: str, function: str, line: int) -> list[tuple[str, str]]:
        return [("Event-Subclass", subclass), *self.prefix("CUSTOM", "sofia_reg.c", function, line)]

    def registration(
        self,
        user: str,
        domain: str,
        contact_host: str,
        *,
        profile: str = "internal",
        call_id: str | None = None,
        expires: int = 3600,
        user_agent: str = "implus-test-phone",
    ) -> FsEvent:
        """CUSTOM sofia::register, header order of sofia_reg.c (sofia_reg_handle_register_token)."""
        ip, _, port = contact_host.partition(":")
        headers = self._custom("sofia::register", "sofia_reg_handle_register_token", 2070)
        headers += [
            ("profile-name", profile),
            ("from-user", user),
            ("from-host", domain),
            ("presence-hosts", "n/a"),
            ("contact", f'"{user}" <sip:{user}@{contact_host}>'),
            ("call-id", call_id or str(uuid.uuid4())),
            ("rpid", "unknown"),
            ("status", "Registered(UDP)"),
            ("expires", str(expires)),
            ("to-user", user),
            ("to-host", domain),
            ("network-ip", ip),
            ("network-port", port or "5060"),
            ("username", user),
            ("realm", domain),
            ("user-agent", user_agent),
        ]
        return FsEvent("CUSTOM", tuple(headers), subclass="sofia::register")

    def unregistration(
        self,
        user: str,
        domain: str,
        contact_host: str,
        *,
        profile: str = "internal",
        call_id: str | None = None,
    ) -> FsEvent:
        """CUSTOM sofia::unregister (a REGISTER with Expires: 0), header order of sofia_reg.c."""
        headers = self._custom("sofia::unregister", "sofia_reg_handle_register_token", 2262)
        headers += [
            ("profile-name", profile),
            ("username", user),
            ("from-user", user),
            ("from-host", domain),
            ("contact", f'"{user}" <sip:{user}@{contact_host}>'),
            ("call-id", call_id or str(uuid.uuid4())),
            ("rpid", "unknown"),
            ("realm", domain),
            ("expires", "0"),
        ]
        return FsEvent("CUSTOM", tuple(headers), subclass="sofia::unregister")

    def presence_in(
        self, user: str, domain: str, status: str, *, profile: str = "internal"
    ) -> FsEvent:
        """PRESENCE_IN that sofia_reg.c fires on (un)registration (presence-source: register)."""
        headers = self.prefix("PRESENCE_IN", "sofia_reg.c", "sofia_reg_handle_register_token", 2190)
        headers += [
            ("proto", "sip"),
            ("login", profile),
            ("presence-source", "register"),
            ("from", f"{user}@{domain}"),
            ("rpid", "unknown"),
            ("status", status),
        ]
        return FsEvent("PRESENCE_IN", tuple(headers))
