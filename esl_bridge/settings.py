"""The ESL bridge's settings: one typed object, built once from the admin YAML, the environment
and the command line. A missing or bad value fails at start with a message naming it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from admin_config.errors import ConfigInvalid
from admin_config.model import AdminConfig, FreeswitchPbx, load_admin_config
from esl_bridge.client import DEFAULT_SUBCLASSES, EslSettings
from esl_bridge.errors import BridgeConfigError
from router.connect import parse as parse_redis_url
from router.errors import InvalidInput

DIALPLAN_SUBCLASSES = ("implus::overflow", "implus::outbound")
"""CUSTOM events the generated dialplan raises (docs/call-flow.md)."""
BRIDGE_EVENTS = (
    "CHANNEL_CREATE",
    "CHANNEL_PARK",
    "CHANNEL_BRIDGE",
    "CHANNEL_HANGUP",
)
"""What the bridge handles (plus BACKGROUND_JOB and the CUSTOM subclasses): every other
subscribed event would only cost parsing - FreeSWITCH sends each to every listener.
A channel's end is its CHANNEL_HANGUP (with its Hangup-Cause): FreeSWITCH fires it for
every channel that reaches CS_HANGUP (`switch_channel_perform_hangup`), the only way to
CHANNEL_HANGUP_COMPLETE, which repeats the same cause with ~3 KB more (23 KB of a routed
call's 71 KB); see docs/esl-bridge.md."""


@dataclass(frozen=True)
class BridgeSettings:
    """Everything one `implus esl-bridge` process needs."""

    pbx_id: str
    esl: EslSettings
    redis_url: str
    domain: str = "default"
    push_agents: bool = True
    """Upsert the admin YAML's agents into the router at start (off: the admin API owns them)."""
    presence_ttl: float = 90.0
    """Seconds a phone's `sip` lease lasts without renewal."""
    presence_refresh: float = 30.0
    """Seconds between lease renewals of registered phones."""
    sweep_interval: float = 30.0
    """Seconds between checks of every known call against `show channels` (reconciliation
    also runs after every reconnection)."""
    api_timeout: float = 5.0
    """Seconds to wait for a short API command (uuid_bridge, uuid_kill...)."""
    concurrency: int = 64
    """Calls handled at once (each may wait on Redis or FreeSWITCH); more wait their turn."""
    status_interval: float = 5.0
    """Seconds between refreshes of the bridge's status key in Redis."""
    deferred_window: float = 0.5
    """Seconds what an ended flow left to write (call records, transcript entries, a
    command's acknowledgement) may wait for its call's next router step to carry it; then
    it goes out with every other call's leftovers due, in one round trip."""


def read_config(path: str | Path) -> AdminConfig:
    try:
        return load_admin_config(path)
    except ConfigInvalid as e:
        raise BridgeConfigError(str(e)) from e
    except OSError as e:
        raise BridgeConfigError(f"cannot read the admin config {path}: {e}") from e


def freeswitch_pbx(config: AdminConfig, pbx_id: str) -> FreeswitchPbx:
    """PBX `pbx_id` of the config, which must be a FreeSWITCH."""
    known = [p.id for p in config.pbxs_of_kind("freeswitch")]
    try:
        pbx = config.pbx(pbx_id)
    except KeyError:
        raise BridgeConfigError(
            f"no PBX {pbx_id!r} in the admin config; FreeSWITCH PBXs there: "
            f"{', '.join(known) or 'none'}"
        ) from None
    if not isinstance(pbx, FreeswitchPbx):
        raise BridgeConfigError(
            f"PBX {pbx_id!r} is an {pbx.kind}, not a FreeSWITCH: run `implus ami-bridge` for it"
            + (f" (FreeSWITCH PBXs: {', '.join(known)})" if known else "")
        )
    return pbx


def build_settings(
    config: AdminConfig,
    pbx_id: str,
    *,
    redis_url: str | None = None,
    domain: str = "default",
    push_agents: bool = True,
    env: dict[str, str] | None = None,
    **tuning: Any,
) -> BridgeSettings:
    """Settings for the bridge of `pbx_id`: ESL address from the config, the ESL password and
    (unless given) the Redis URL from the environment variables the config names."""
    env = dict(os.environ) if env is None else env
    pbx = freeswitch_pbx(config, pbx_id)
    password = env.get(pbx.secret_env, "")
    if not password:
        raise BridgeConfigError(
            f"set {pbx.secret_env} to the event-socket password of {pbx_id} "
            "(event_socket.conf.xml `password`; the admin config names the variable in secret_env)"
        )
    url = redis_url or env.get(config.redis_url_env, "")
    if not url:
        raise BridgeConfigError(
            f"no Redis URL: pass --redis-url or set {config.redis_url_env} "
            "(e.g. redis://127.0.0.1:6379/0)"
        )
    try:
        parse_redis_url(url)
    except InvalidInput as e:
        raise BridgeConfigError(f"the Redis URL: {e}") from None
    esl = EslSettings(
        host=pbx.host,
        port=pbx.management_port,
        password=password,
        events=BRIDGE_EVENTS,
        custom_subclasses=(*DEFAULT_SUBCLASSES, *DIALPLAN_SUBCLASSES),
        inline_events=True,  # EslBridge._on_event only queues: it never blocks
    )
    return BridgeSettings(
        pbx_id=pbx_id, esl=esl, redis_url=url, domain=domain, push_agents=push_agents, **tuning
    )
