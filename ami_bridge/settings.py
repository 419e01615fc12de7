"""The bridge's settings: one typed object, built once from the admin YAML < env < CLI."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from admin_config.model import AdminConfig, AsteriskPbx
from router.connect import parse as parse_redis_url
from router.errors import InvalidInput

from .connection import AmiSettings
from .errors import BridgeConfigError
from .translate import EVENT_CLASSES, EVENT_FILTERS

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


@dataclass(frozen=True)
class BridgeSettings:
    pbx_id: str
    ami: AmiSettings
    redis_url: str = DEFAULT_REDIS_URL
    domain: str = "default"
    push_agents: bool = True
    """Upsert the agent profiles of the admin YAML into the router at start (off when the
    admin API manages them)."""
    sip_ttl_s: float = 90.0
    """Lease of an agent's `sip` presence; renewed every `sip_ttl_s / 3`."""
    reconcile_interval_s: float = 60.0
    """Compare the book with Asterisk's channels this often (besides every reconnect)."""
    consumer: str = ""
    """Consumer name in the `bridge` group (default `ami-<pbx id>`): keep it stable, so a
    restarted bridge reads the commands its predecessor left unacknowledged."""
    command_block_ms: int = 1000
    concurrency: int = 64
    """Calls handled at once (each may wait on Redis or AMI); more wait their turn."""

    @property
    def consumer_name(self) -> str:
        return self.consumer or f"ami-{self.pbx_id}"


def settings_from_config(
    config: AdminConfig,
    pbx_id: str,
    *,
    redis_url: str | None = None,
    env: Mapping[str, str] | None = None,
    **overrides: object,
) -> BridgeSettings:
    """Settings for the bridge of `pbx_id`; `BridgeConfigError` names what is missing."""
    env = os.environ if env is None else env
    known = {p.id: p for p in config.pbxs}
    pbx = known.get(pbx_id)
    if pbx is None:
        raise BridgeConfigError(
            f"no PBX {pbx_id!r} in {config.source or 'the admin config'} "
            f"(PBXs: {', '.join(known) or 'none'}); pass --pbx with one of them"
        )
    if not isinstance(pbx, AsteriskPbx):
        raise BridgeConfigError(
            f"PBX {pbx_id!r} is a {pbx.kind} server; the AMI bridge serves Asterisk only "
            "(FreeSWITCH has its own ESL bridge)"
        )
    secret = env.get(pbx.secret_env, "")
    if not secret:
        raise BridgeConfigError(
            f"the AMI secret of PBX {pbx_id!r} is read from the environment variable "
            f"{pbx.secret_env}, which is not set: export it (the same secret "
            "`implus dialplan apply` wrote into manager_implus.conf)"
        )
    url = redis_url or env.get(config.redis_url_env) or DEFAULT_REDIS_URL
    try:
        parse_redis_url(url)
    except InvalidInput as e:
        raise BridgeConfigError(f"the Redis URL: {e}") from None
    ami = AmiSettings(
        host=pbx.host,
        port=pbx.management_port,
        username=pbx.username,
        secret=secret,
        filters=EVENT_FILTERS,
        event_mask=EVENT_CLASSES,
    )
    return BridgeSettings(pbx_id=pbx_id, ami=ami, redis_url=url, **overrides)  # type: ignore[arg-type]
