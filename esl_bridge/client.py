"""EslClient: a connection to FreeSWITCH that stays up - reconnects with backoff, re-subscribes,
and tells its owner when to reconcile.

gevent only: this runs in the ESL bridge's own process (see docs/freeswitch-esl.md). Nothing
here monkey-patches; greenswitch uses gevent's socket module directly.

    client = EslClient(EslSettings(host="127.0.0.1", password="ClueCon"), on_event=handle,
                       on_connected=reconcile)
    client.start()
    client.wait_connected(10)
    job = client.bgapi("originate {origination_uuid=...}user/1001 &park()")
    outcome = job.wait(60)          # BackgroundJob: .ok, .result
    rows = client.show_channels()   # after a reconnect: what is really up
"""

from __future__ import annotations

import itertools
import logging
import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

import gevent
import gevent.event

from esl_bridge.channels import ChannelRow, parse_show_channels
from esl_bridge.connection import EslConnection
from esl_bridge.errors import (
    EslAuthFailed,
    EslCommandFailed,
    EslConnectionLost,
    EslError,
    EslTimeout,
    EslUnavailable,
)
from esl_bridge.events import BackgroundJob, EslEvent
from esl_bridge.registrations import RegistrationRow, parse_show_registrations

_JOB_PREFIX = str(uuid.uuid4())[:24]
_JOB_COUNTER = itertools.count()


def new_job_uuid() -> str:
    """A Job-UUID for a `bgapi`: a random version-4 UUID's first 24 characters, chosen once
    per process, and a counter (no random bytes and UUID object per job)."""
    return f"{_JOB_PREFIX}{next(_JOB_COUNTER) & 0xFFFFFFFFFFFF:012x}"


log = logging.getLogger(__name__)

DEFAULT_EVENTS = (
    "CHANNEL_CREATE",
    "CHANNEL_PROGRESS",
    "CHANNEL_ANSWER",
    "CHANNEL_PARK",
    "CHANNEL_BRIDGE",
    "CHANNEL_UNBRIDGE",
    "CHANNEL_HANGUP",
    "CHANNEL_HANGUP_COMPLETE",
    "CHANNEL_DESTROY",
    "PRESENCE_IN",
)
"""What the bridge needs; BACKGROUND_JOB is always added (bgapi results arrive as events)."""

DEFAULT_SUBCLASSES = ("sofia::register", "sofia::unregister", "sofia::expire")


@dataclass(frozen=True)
class EslSettings:
    """How to reach one FreeSWITCH and what to listen to."""

    host: str = "127.0.0.1"
    port: int = 8021
    password: str = "ClueCon"  # noqa: S105 - FreeSWITCH's default ESL password
    events: tuple[str, ...] = DEFAULT_EVENTS
    custom_subclasses: tuple[str, ...] = DEFAULT_SUBCLASSES
    filters: tuple[tuple[str, str], ...] = ()
    connect_timeout: float = 5.0
    command_timeout: float = 5.0
    event_format: Literal["json", "plain"] = "json"
    inline_events: bool = False
    """Hand each event to `on_event` in the reader greenlet, without greenswitch's queue and
    dispatcher greenlet (one queue put, one wake-up and two switches less per event). Only
    for an `on_event` that never blocks - the ESL bridge's only queues the event: a
    blocking one would stop the reading, and an `api` call from it would wait forever for
    its own reply."""
    backoff_initial: float = 0.25
    backoff_max: float = 1.5
    """A restarted FreeSWITCH refuses connections for 7-10 s: a delay that has grown longer
    than this would reconnect late. One attempt every 0.75-1.5 s does not hammer a dead
    host (a refused TCP connection costs it nothing)."""

    def subscription(self) -> str:
        """The `event json ...` command: names, BACKGROUND_JOB, then CUSTOM and its subclasses.

        JSON, not plain: a channel event carries every channel variable (~5 KB); one
        `json.loads` decodes it about 6x faster than splitting and URL-decoding ~150 plain
        header lines (measured on the recorded events). greenswitch cannot parse json, but
        its reader is replaced by ours (`esl_bridge.wire`), which reads both.
        """
        names = [n for n in self.events if n != "CUSTOM"]
        if "BACKGROUND_JOB" not in names:
            names.append("BACKGROUND_JOB")
        if self.custom_subclasses:
            names += ["CUSTOM", *self.custom_subclasses]
        return f"event {self.event_format} " + " ".join(names)

    def filters_to_send(self) -> tuple[tuple[str, str], ...]:
        """`filters`, plus `Event-Name BACKGROUND_JOB` when there are any: filters are an
        allow-list, and bgapi results must get through."""
        if not self.filters or ("Event-Name", "BACKGROUND_JOB") in self.filters:
            return self.filters
        return (*self.filters, ("Event-Name", "BACKGROUND_JOB"))


def backoff_delays(
    initial: float, maximum: float, rng: random.Random | None = None
) -> Iterator[float]:
    """Exponential backoff with jitter: about initial, 2x, 4x, ... capped at `maximum`."""
    rng = rng or random.Random()
    delay = initial
    while True:
        yield delay * (0.5 + rng.random() / 2)
        delay = min(maximum, delay * 2)


class BackgroundJobHandle:
    """A `bgapi` command accepted by FreeSWITCH, whose result arrives later as BACKGROUND_JOB."""

    def __init__(self, job_uuid: str, command: str, result: gevent.event.AsyncResult) -> None:
        self.job_uuid = job_uuid
        self.command = command
        self._result = result

    @property
    def done(self) -> bool:
        return bool(self._result.ready())

    def wait(self, timeout: float | None = None, *, check: bool = False) -> BackgroundJob:
        """The job's BACKGROUND_JOB; with `check`, EslCommandFailed unless it says `+OK`.

        Raises EslTimeout if it did not finish in `timeout` (the job keeps running), and
        EslConnectionLost if the connection dropped first (its outcome is then unknown).
        """
        try:
            job: BackgroundJob = self._result.get(timeout=timeout)
        except gevent.Timeout:
            raise EslTimeout(
                f"background job {self.command!r} not finished within {timeout} s"
            ) from None
        if check and not job.ok:
            raise EslCommandFailed(self.command, job.body)
        return job


class EslClient:
    """Keeps one FreeSWITCH event-socket connection up and offers api/bgapi on it.

    - `on_event(event)` gets every subscribed event as a frozen dataclass (esl_bridge.events),
      in order, in one greenlet; events received before a drop are still delivered.
    - `on_connected()` runs after each (re)connection and subscription, before anything
      else: rebuild state from `show_channels()` there - FreeSWITCH never replays events.
    - `on_disconnected(reason)` runs when a connection ends; commands and background jobs
      still waiting fail with EslConnectionLost.
    Each connection attempt uses a new EslConnection, with exponential backoff between them.
    """

    def __init__(
        self,
        settings: EslSettings,
        on_event: Callable[[EslEvent], None],
        *,
        on_connected: Callable[[], None] | None = None,
        on_disconnected: Callable[[EslError], None] | None = None,
        rng: random.Random | None = None,
        ignore_raw: Callable[[bytes], bool] | None = None,
    ) -> None:
        """`ignore_raw(json_text) -> bool`: True for an event `on_event` has no use for
        (it is then not decoded; JSON events only)."""
        self.settings = settings
        self.on_event = on_event
        self.ignore_raw = ignore_raw
        self.on_connected = on_connected
        self.on_disconnected = on_disconnected
        self.connections = 0
        """How many times a connection was established (1 + reconnections)."""
        self.last_error: EslError | None = None
        self._rng = rng
        self._conn: EslConnection | None = None
        self._up = gevent.event.Event()
        self._jobs: dict[str, gevent.event.AsyncResult] = {}
        self._stopping = False
        self._supervisor: gevent.Greenlet | None = None

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Start connecting in the background (returns at once)."""
        if self._supervisor is None:
            self._stopping = False
            self._supervisor = gevent.spawn(self._supervise)

    def stop(self) -> None:
        """Close the connection and stop reconnecting; waiting jobs fail with EslUnavailable."""
        self._stopping = True
        conn = self._conn
        if conn is not None:
            conn.close()
        if self._supervisor is not None:
            self._supervisor.join(5)
            self._supervisor.kill(block=True, timeout=1)
            self._supervisor = None
        self._fail_jobs(EslUnavailable("ESL client stopped"))

    @property
    def connected(self) -> bool:
        return self._conn is not None and bool(self._conn.connected)

    def wait_connected(self, timeout: float | None = None) -> bool:
        """Block (this greenlet) until connected, subscribed and reconciled (`on_connected`
        returned); False on timeout."""
        return bool(self._up.wait(timeout))

    def _supervise(self) -> None:
        delays = backoff_delays(self.settings.backoff_initial, self.settings.backoff_max, self._rng)
        while not self._stopping:
            conn = EslConnection(
                self.settings.host,
                self.settings.port,
                self.settings.password,
                connect_timeout=self.settings.connect_timeout,
                command_timeout=self.settings.command_timeout,
                inline_events=self.settings.inline_events,
                ignore_raw=self.ignore_raw,
            )
            try:
                self._open(conn)
            except Exception as e:  # the supervisor must outlive any failure
                if not isinstance(e, EslError):
                    log.exception("ESL: unexpected failure while connecting")
                    e = EslUnavailable(f"connecting to {conn.where} failed: {e!r}")
                conn.close(timeout=0.5)
                self.last_error = e
                delay = next(delays)
                level = logging.ERROR if isinstance(e, EslAuthFailed) else logging.WARNING
                log.log(level, "ESL: %s; retrying in %.1f s", e, delay)
                gevent.sleep(delay)
                continue
            delays = backoff_delays(
                self.settings.backoff_initial, self.settings.backoff_max, self._rng
            )
            self._conn = conn
            self.connections += 1
            log.info("ESL: connected to %s (connection %d)", conn.where, self.connections)
            self._run_hook(conn)
            if conn.connected:
                self._up.set()
            conn.closed.wait()
            reason = conn.close_reason or EslConnectionLost("connection ended")
            self._up.clear()
            self._conn = None
            self.last_error = reason
            self._fail_jobs(reason)
            conn.close(timeout=1.0)
            if self.on_disconnected is not None:
                try:
                    self.on_disconnected(reason)
                except Exception:
                    log.exception("ESL: on_disconnected failed")
            if not self._stopping:
                delay = next(delays)
                log.warning("ESL: %s; reconnecting in %.1f s", reason, delay)
                gevent.sleep(delay)

    def _open(self, conn: EslConnection) -> None:
        settings = self.settings
        conn.connect()
        names = [n for n in settings.events if n != "CUSTOM"]
        conn.subscribe([*names, "BACKGROUND_JOB"], settings.custom_subclasses, self._deliver)
        self._expect_ok(conn, settings.subscription())
        for name, value in settings.filters_to_send():
            self._expect_ok(conn, f"filter {name} {value}")

    @staticmethod
    def _expect_ok(conn: EslConnection, command: str) -> str:
        reply = conn.send(command).get("Reply-Text") or ""
        if not reply.startswith("+OK"):
            raise EslCommandFailed(command, reply)
        return reply

    def _run_hook(self, conn: EslConnection) -> None:
        if self.on_connected is None:
            return
        try:
            self.on_connected()
        except EslError as e:
            log.error("ESL: reconciliation after connecting failed (%s); reconnecting", e)
            conn.close(timeout=0.5)
        except Exception:
            log.exception("ESL: on_connected failed")

    # -- events ----------------------------------------------------------------------------

    def _deliver(self, event: EslEvent) -> None:
        if isinstance(event, BackgroundJob):
            waiting = self._jobs.pop(event.job_uuid, None)
            if waiting is not None:
                waiting.set(event)
        self.on_event(event)

    def _fail_jobs(self, reason: EslError) -> None:
        jobs, self._jobs = self._jobs, {}
        for job_uuid, result in jobs.items():
            result.set_exception(
                EslConnectionLost(
                    f"{reason}; background job {job_uuid} has no result - "
                    "its outcome is unknown (look it up in show channels)"
                )
            )

    # -- commands ------------------------------------------------------------------------------

    def _require(self) -> EslConnection:
        conn = self._conn
        if conn is None or not conn.connected:
            raise EslUnavailable(
                f"not connected to FreeSWITCH at {self.settings.host}:{self.settings.port}"
                + (f" ({self.last_error})" if self.last_error else "")
            )
        return conn

    def api(self, command: str, *, timeout: float | None = None, check: bool = True) -> str:
        """Run `api <command>` and return its output; blocks this greenlet, not the others.

        With `check`, an output starting with `-ERR`/`-USAGE` raises EslCommandFailed.
        Long commands belong in `bgapi`: FreeSWITCH answers nothing else on this connection
        while an `api` runs.
        """
        reply = self._require().send(f"api {command}", timeout=timeout)
        if reply.content_type != "api/response":
            raise EslCommandFailed(command, reply.get("Reply-Text") or reply.content_type)
        body = reply.text()
        if check and body.startswith(("-ERR", "-USAGE")):
            raise EslCommandFailed(command, body)
        return body

    def bgapi(self, command: str, *, timeout: float | None = None) -> BackgroundJobHandle:
        """Start `bgapi <command>` under a Job-UUID chosen here; its result comes later."""
        return self._bgapi(command, timeout, keep=True)

    def bgapi_started(self, command: str, *, timeout: float | None = None) -> str:
        """`bgapi` for a job whose result nobody here waits for (it comes as an event, to
        whoever needs it): its Job-UUID once FreeSWITCH accepted it. Raises as `bgapi`."""
        return self._bgapi(command, timeout, keep=False).job_uuid

    def waits_for(self, job_uuid: str) -> bool:
        """Does a `bgapi` handle wait for the result of job `job_uuid`?"""
        return job_uuid in self._jobs

    def _bgapi(self, command: str, timeout: float | None, keep: bool) -> BackgroundJobHandle:
        conn = self._require()
        job_uuid = new_job_uuid()
        result = gevent.event.AsyncResult()
        if keep:
            self._jobs[job_uuid] = result
        try:
            reply = conn.send(f"bgapi {command}", timeout=timeout, headers={"Job-UUID": job_uuid})
        except EslError:
            self._jobs.pop(job_uuid, None)
            raise
        text = reply.get("Reply-Text") or ""
        if not text.startswith("+OK"):
            self._jobs.pop(job_uuid, None)
            raise EslCommandFailed(command, text)
        return BackgroundJobHandle(job_uuid, command, result)

    def bgapi_nowait(self, command: str) -> str:
        """`bgapi <command>` without waiting for FreeSWITCH to accept it, for a command whose
        outcome nobody acts on (its BACKGROUND_JOB comes as any event; a refusal is logged).
        Its Job-UUID. Raises EslUnavailable/EslConnectionLost if it cannot be sent."""
        job_uuid = new_job_uuid()
        self._require().post(f"bgapi {command}", {"Job-UUID": job_uuid})
        return job_uuid

    def api_then_bgapi(
        self, api_command: str, bg_command: str, *, timeout: float | None = None
    ) -> tuple[str, BackgroundJobHandle]:
        """`api <api_command>` then `bgapi <bg_command>` in ONE write (one wake-up for
        both replies; FreeSWITCH runs them in this order): the api's output, unchecked,
        and the background job (an api refused otherwise than by its output reads as
        `-ERR <reason>`: the job was started all the same). Raises as `bgapi` does."""
        conn = self._require()
        job_uuid = new_job_uuid()
        result = gevent.event.AsyncResult()
        self._jobs[job_uuid] = result
        try:
            reply, accepted = conn.send_many(
                [(f"api {api_command}", None), (f"bgapi {bg_command}", {"Job-UUID": job_uuid})],
                timeout,
            )
        except EslError:
            self._jobs.pop(job_uuid, None)
            raise
        text = accepted.get("Reply-Text") or ""
        if not text.startswith("+OK"):
            self._jobs.pop(job_uuid, None)
            raise EslCommandFailed(bg_command, text)
        if reply.content_type != "api/response":  # not raised: the job runs all the same
            output = f"-ERR {reply.get('Reply-Text') or reply.content_type}"
        else:
            output = reply.text()
        return output, BackgroundJobHandle(job_uuid, bg_command, result)

    def command(self, line: str, *, timeout: float | None = None) -> str:
        """Send a plain command (`filter ...`, `event ...`); its Reply-Text, or EslCommandFailed."""
        reply = self._require().send(line, timeout=timeout)
        text = reply.get("Reply-Text") or ""
        if text.startswith("-"):
            raise EslCommandFailed(line, text)
        return text

    def show_channels(self, *, timeout: float | None = None) -> list[ChannelRow]:
        """The channels FreeSWITCH has right now (`show channels as json`)."""
        return parse_show_channels(self.api("show channels as json", timeout=timeout))

    def show_registrations(self, *, timeout: float | None = None) -> list[RegistrationRow]:
        """The SIP phones registered right now (`show registrations as json`)."""
        return parse_show_registrations(self.api("show registrations as json", timeout=timeout))
