"""`implus esl-bridge --config admin.yaml --pbx ID`: the FreeSWITCH bridge process.

gevent needs the socket module patched before anything opens a socket (redis-py), and the
`implus` command imports every package's subcommands first. So the command re-executes
itself as `python -m esl_bridge ...`, whose first lines monkey-patch (esl_bridge/__main__.py);
nothing else in implus ever patches.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from typing import Any

import click

LOG_LEVELS = ("debug", "info", "warning", "error")


@click.command("esl-bridge")
@click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="The admin YAML (docs/admin-config.md).",
)
@click.option("--pbx", "pbx_id", required=True, help="Id of the FreeSWITCH PBX in the config.")
@click.option(
    "--redis-url",
    default=None,
    help="Redis of the router (default: the variable the config names, IMPLUS_REDIS_URL).",
)
@click.option(
    "--domain",
    envvar="IMPLUS_DOMAIN",
    default="default",
    show_default=True,
    help="Routing domain (as given to `implus router`).",
)
@click.option(
    "--agents-from-api",
    is_flag=True,
    help="Do not push the config's agents to the router: the admin API manages them.",
)
@click.option(
    "--presence-ttl",
    default=90.0,
    show_default=True,
    type=click.FloatRange(5, 3600),
    help="Seconds an agent phone's presence lasts without renewal.",
)
@click.option(
    "--sweep-interval",
    default=30.0,
    show_default=True,
    type=click.FloatRange(0.2, 3600),
    help="Seconds between checks of every call against FreeSWITCH's channel list.",
)
@click.option("--log-level", default="info", show_default=True, type=click.Choice(LOG_LEVELS))
def esl_bridge_command(
    config_path: str,
    pbx_id: str,
    redis_url: str | None,
    domain: str,
    agents_from_api: bool,
    presence_ttl: float,
    sweep_interval: float,
    log_level: str,
) -> None:
    """Connect a FreeSWITCH (event socket) to the implus router.

    Parked entry-point calls become voice routing requests; agents are rung first and
    connected on answer; registrations feed the agents' phone presence; click-to-call and
    callbacks place agent-first calls through the configured trunk. Run one per FreeSWITCH.
    """
    import gevent.monkey

    if not gevent.monkey.is_module_patched("socket"):
        argv = [
            sys.executable, "-m", "esl_bridge",
            "--config", config_path, "--pbx", pbx_id, "--domain", domain,
            "--presence-ttl", str(presence_ttl), "--sweep-interval", str(sweep_interval),
            "--log-level", log_level,
        ]  # fmt: skip
        if redis_url:
            argv += ["--redis-url", redis_url]
        if agents_from_api:
            argv.append("--agents-from-api")
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(sys.executable, argv)  # noqa: S606 - ourselves, with gevent patched first
    run_bridge(
        config_path,
        pbx_id,
        redis_url=redis_url,
        domain=domain,
        push_agents=not agents_from_api,
        presence_ttl=presence_ttl,
        presence_refresh=max(1.0, presence_ttl / 3),
        sweep_interval=sweep_interval,
        log_level=log_level,
    )


def run_bridge(
    config_path: str,
    pbx_id: str,
    *,
    redis_url: str | None,
    domain: str,
    push_agents: bool,
    log_level: str,
    **tuning: Any,
) -> None:
    """Build the bridge from the config and run it until SIGTERM/SIGINT (gevent patched)."""
    import gevent

    from esl_bridge import redis_gevent
    from esl_bridge.bridge import EslBridge
    from esl_bridge.errors import BridgeConfigError
    from esl_bridge.settings import build_settings, read_config
    from router.client import RouterClient
    from router.client.packer import HiredisPacker
    from router.connect import durability_from_url, redis_from_url
    from router.errors import RouterError

    logging.basicConfig(
        level=log_level.upper(),
        format=f"%(asctime)s esl-bridge[{pbx_id}] %(levelname)s %(name)s: %(message)s",
    )
    try:
        config = read_config(config_path)
        settings = build_settings(
            config, pbx_id, redis_url=redis_url, domain=domain, push_agents=push_agents, **tuning
        )
    except BridgeConfigError as e:
        raise click.ClickException(str(e)) from None
    redis_gevent.install()  # the pool's readiness check without gevent's poll (~10% CPU)
    # A pool that WAITS for a free connection: redis-py's default pool (100 connections)
    # raised "Too many connections" under a burst of calls and the flow was dropped.
    rds = redis_from_url(
        settings.redis_url,
        blocking_pool=settings.concurrency + 8,  # + command reader, presence, sweep
        pool_timeout=120,
        **HiredisPacker.options(),  # arguments straight to hiredis: ~12 us less per script call
    )
    router = RouterClient(rds, settings.domain, durability=durability_from_url(settings.redis_url))
    try:
        router.redis.ping()
    except Exception as e:
        raise click.ClickException(
            f"cannot reach Redis ({e}): start redis-server or pass --redis-url"
        ) from None
    bridge = EslBridge(settings, config, router)
    gevent.signal_handler(signal.SIGTERM, bridge.stop)
    gevent.signal_handler(signal.SIGINT, bridge.stop)
    try:
        bridge.run()
    except RouterError as e:
        raise click.ClickException(f"router: {e}") from None
