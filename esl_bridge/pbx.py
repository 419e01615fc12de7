"""The FreeSWITCH commands the bridge needs, in its own words, over `EslClient`.

Nothing here decides anything. A command FreeSWITCH refuses, or a channel that is already
gone, is a normal answer (False / None, logged), not an error - calls end while the bridge
talks about them. Only a link that is down raises (`PbxUnavailable`): then nothing was done.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

from callflow.intents import PbxUnavailable

from .client import BackgroundJobHandle, EslClient
from .errors import EslError, EslUnavailable

log = logging.getLogger("esl_bridge")

SAFE_VALUE = re.compile(r"^[A-Za-z0-9+._@:-]{1,128}$")
"""What may go into `{var=value}` or a command argument unquoted: no `,` (separates variables),
`}` `{` `'` (quoting), spaces (argument separator), `|` `&` `;` (dial-string syntax)."""


class UnsafeValue(ValueError):
    """A value that cannot be put into an ESL command as it is."""


def safe(value: str, what: str) -> str:
    """`value` unchanged if it can go into a command unquoted; UnsafeValue otherwise."""
    if not SAFE_VALUE.match(value):
        raise UnsafeValue(f"{what} {value!r} cannot go into a FreeSWITCH command")
    return value


def originate(dial_string: str, variables: Mapping[str, str | int], then: str = "&park()") -> str:
    """`originate {a=1,b=2}<dial string> <then>` with every variable value checked."""
    pairs = ",".join(f"{safe(k, 'variable name')}={safe(str(v), k)}" for k, v in variables.items())
    return f"originate {{{pairs}}}{dial_string} {then}"


class FreeSwitch:
    """One FreeSWITCH, seen through an ESL client."""

    def __init__(self, esl: EslClient, timeout: float = 5.0) -> None:
        self.esl = esl
        self.timeout = timeout

    def _unavailable(self, e: EslError) -> None:
        if isinstance(e, EslUnavailable) or not self.esl.connected:
            raise PbxUnavailable(str(e)) from e

    def api(self, command: str) -> str | None:
        """Run a short API command; its output, or None if it could not be run (logged)."""
        try:
            return self.esl.api(command, timeout=self.timeout, check=False)
        except EslError as e:
            self._unavailable(e)
            log.warning("FreeSWITCH did not run %r: %s", command.split(" ", 1)[0], e)
            return None

    def api_ok(self, command: str) -> bool:
        reply = self.api(command)
        if reply is None:
            return False
        if reply.startswith("-"):
            log.info("%s: %s", command, reply.strip())
            return False
        return True

    def background(self, command: str) -> bool:
        """Start a command that needs no answer (`bgapi`): FreeSWITCH runs it in a thread of
        its own, so a slow one does not hold up this connection's other commands. False if
        FreeSWITCH did not accept it."""
        try:
            self.esl.bgapi_started(command, timeout=self.timeout)
        except EslError as e:
            self._unavailable(e)
            log.warning("FreeSWITCH did not start %r: %s", command.split(" ", 1)[0], e)
            return False
        return True

    def send_off(self, command: str) -> None:
        """Start a command whose outcome nobody acts on (`bgapi`, without waiting for
        FreeSWITCH to accept it: a refusal is logged when its reply comes)."""
        try:
            self.esl.bgapi_nowait(command)
        except EslError as e:
            self._unavailable(e)
            log.warning("FreeSWITCH did not start %r: %s", command.split(" ", 1)[0], e)

    def background_ok(self, command: str) -> bool:
        """Run a command with `bgapi` and wait (this greenlet only) for its result."""
        try:
            job = self.esl.bgapi(command, timeout=self.timeout)
        except EslError as e:
            return self._did_not_run(command, e)
        return self._job_ok(job, command)

    def api_then_background_ok(self, api_command: str, bg_command: str) -> bool:
        """`api_ok(api_command)` then `background_ok(bg_command)`, both sent in one write;
        the background command's outcome (the api's failure is logged, as `api_ok` does)."""
        try:
            reply, job = self.esl.api_then_bgapi(api_command, bg_command, timeout=self.timeout)
        except EslError as e:
            return self._did_not_run(bg_command, e)
        if reply.startswith("-"):
            log.info("%s: %s", api_command, reply.strip())
        return self._job_ok(job, bg_command)

    def _job_ok(self, job: BackgroundJobHandle, command: str) -> bool:
        """Wait (this greenlet only) for background `command`'s result: did it succeed?"""
        try:
            result = job.wait(self.timeout)
        except EslError as e:
            return self._did_not_run(command, e)
        if not result.ok:
            log.info("%s: %s", command, result.body.strip())
        return bool(result.ok)

    def _did_not_run(self, command: str, e: EslError) -> bool:
        self._unavailable(e)
        log.warning("FreeSWITCH did not run %r: %s", command.split(" ", 1)[0], e)
        return False

    def kill(self, uuid: str, cause: str = "NORMAL_CLEARING") -> None:
        """Hang channel `uuid` up (nothing happens if it is gone already)."""
        if uuid:
            self.background(f"uuid_kill {safe(uuid, 'channel uuid')} {safe(cause, 'cause')}")

    def exists(self, uuid: str) -> bool | None:
        """Whether channel `uuid` is up; None if FreeSWITCH could not be asked."""
        reply = self.api(f"uuid_exists {safe(uuid, 'channel uuid')}")
        return None if reply is None else reply.strip() == "true"

    def getvar(self, uuid: str, name: str) -> str | None:
        """A channel variable ('' if unset), None if the channel is gone."""
        reply = self.api(f"uuid_getvar {safe(uuid, 'channel uuid')} {safe(name, 'variable')}")
        if reply is None or reply.startswith("-"):
            return None
        value = reply.strip()
        return "" if value == "_undef_" else value
