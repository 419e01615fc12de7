"""The ESL commands that ring phones, and what their hang-up causes mean to the router.

Dial strings and dialplan destinations come from `admin_config.targets` (the contract in
docs/call-flow.md); this module only puts them into `originate` commands and makes sure no
value taken from a call (a caller number, an id) can change the command's meaning.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from pydantic import ValidationError

from admin_config.model import AdminConfig, Agent
from admin_config.targets import Destination, NoRoute, agent_dial_string

SAFE_VALUE = re.compile(r"^[A-Za-z0-9+._@:-]{1,128}$")
"""What may go into `{var=value}` or a command argument unquoted: no `,` (separates variables),
`}` `{` `'` (quoting), spaces (argument separator), `|` `&` `;` (dial-string syntax)."""

USER_FILTER = re.compile(r"[^0-9A-Za-z+._@]")
"""The user id filter of the Asterisk entry point (docs/call-flow.md), applied to FreeSWITCH's
raw `implus_user` so the same caller gets the same user id on either PBX."""

NUMBER = re.compile(r"^\+?[0-9]{1,32}$")

NO_ANSWER_CAUSES = frozenset(
    {"NO_ANSWER", "NO_USER_RESPONSE", "ALLOTTED_TIMEOUT", "RECOVERY_ON_TIMER_EXPIRE"}
)
BUSY_CAUSES = frozenset({"USER_BUSY", "CALL_REJECTED"})


class UnsafeValue(ValueError):
    """A value that cannot be put into an ESL command as it is."""


def safe(value: str, what: str) -> str:
    """`value` unchanged if it can go into a command unquoted; UnsafeValue otherwise."""
    if not SAFE_VALUE.match(value):
        raise UnsafeValue(f"{what} {value!r} cannot go into a FreeSWITCH command")
    return value


def user_id(raw: str | None, fallback: str) -> str:
    """The router's user id for a caller: `implus_user` filtered, or `fallback` if empty."""
    cleaned = USER_FILTER.sub("", raw or "")[:128]
    return cleaned or fallback


def failure_reason(cause: str | None) -> str:
    """The router's offer-failure reason for the hang-up cause of a ringing agent leg."""
    if cause in NO_ANSWER_CAUSES:
        return "no_answer"
    if cause in BUSY_CAUSES:
        return "busy"
    return "unavailable"


def originate(
    dial_string: str,
    variables: Mapping[str, str | int],
    then: str = "&park()",
) -> str:
    """`originate {a=1,b=2}<dial string> <then>` with every variable value checked."""
    pairs = ",".join(f"{safe(k, 'variable name')}={safe(str(v), k)}" for k, v in variables.items())
    return f"originate {{{pairs}}}{dial_string} {then}"


def dial_string(
    config: AdminConfig, pbx_id: str, agent_id: str, endpoint: str = "", agent_pbx: str = ""
) -> str:
    """How `pbx_id` dials agent `agent_id` (admin_config.targets.agent_dial_string).

    An agent managed through the admin API is not in the admin YAML: then its phone as the
    router knows it (`endpoint` on PBX `agent_pbx`) is dialled by the same rules. Raises
    NoRoute when there is no way to reach the phone.
    """
    known = {a.id for a in config.agents}
    if agent_id not in known:
        if not endpoint or not agent_pbx:
            raise NoRoute(f"agent {agent_id!r} has no phone (no endpoint/PBX in the router)")
        try:
            config.pbx(agent_pbx)
        except KeyError:
            raise NoRoute(f"agent {agent_id!r} is on PBX {agent_pbx!r}, unknown here") from None
        try:
            extra = Agent(id=agent_id, pbx=agent_pbx, endpoint=endpoint)
        except ValidationError as e:
            raise NoRoute(f"agent {agent_id!r}: endpoint {endpoint!r} is not dialable") from e
        config = AdminConfig.model_validate({**dict(config), "agents": (*config.agents, extra)})
    return agent_dial_string(config, pbx_id, agent_id)


def ring_seconds(offer_timeout_s: int) -> int:
    """How long to ring an agent for an offer that lasts `offer_timeout_s` (whole seconds,
    rounded down by the router): one second less, at least one, so FreeSWITCH gives up
    before the router's own offer timer and the transcript gets the switch's cause
    (NO_ANSWER) rather than the bridge's cancel. The AMI bridge's `ring_margin_s` does the
    same on Asterisk."""
    return max(1, int(offer_timeout_s) - 1)


def ring_agent_command(
    dial: str,
    leg: str,
    agent_id: str,
    variables: Mapping[str, str | int],
    timeout: int,
) -> str:
    """Ring an agent's phone (`dial`, from `dial_string`) as channel `leg`, then park it."""
    return originate(
        dial,
        {
            "origination_uuid": leg,
            "originate_timeout": max(1, int(timeout)),
            "implus_agent": agent_id,
            **variables,
        },
    )


def transfer_command(uuid: str, destination: Destination) -> str:
    """`uuid_transfer <uuid> <exten> XML <context>`."""
    return f"uuid_transfer {safe(uuid, 'channel uuid')} {destination.freeswitch()}"


ORIGINATION_UUID = re.compile(r"origination_uuid=([^,}]+)")


def origination_uuid(command_arg: str | None) -> str | None:
    """The channel UUID an `originate` job chose (from BACKGROUND_JOB's Job-Command-Arg): a
    restarted bridge can match the result of a job its predecessor started."""
    match = ORIGINATION_UUID.search(command_arg or "")
    return match.group(1) if match else None
