"""`implus ami-bridge --config admin.yaml --pbx ID`: one bridge process per Asterisk."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import Coroutine
from typing import Any

import click

from admin_config.errors import AdminConfigError
from admin_config.model import AdminConfig, load_admin_config

from .errors import AmiLoginFailed, BridgeConfigError
from .settings import BridgeSettings, settings_from_config


@click.command("ami-bridge")
@click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="The admin YAML (PBXs, entry points, agents, trunks).",
)
@click.option("--pbx", "pbx_id", required=True, help="Id of the Asterisk PBX in the config.")
@click.option(
    "--redis-url",
    default=None,
    help="Redis of the router (default: the variable the config's redis_url_env names).",
)
@click.option("--domain", envvar="IMPLUS_DOMAIN", default="default", show_default=True)
@click.option(
    "--no-push-agents",
    is_flag=True,
    help="Do not push agent profiles from the YAML: the admin API manages them.",
)
@click.option(
    "--sip-ttl",
    type=click.FloatRange(5, 3600),
    default=90.0,
    show_default=True,
    help="Seconds of the agents' phone presence lease (renewed every third).",
)
@click.option(
    "--reconcile-interval",
    type=click.FloatRange(1, 3600),
    default=60.0,
    show_default=True,
    help="Seconds between comparisons of the bridge's calls with Asterisk's channels.",
)
@click.option(
    "--event-loop",
    type=click.Choice(["uvloop", "asyncio"]),
    envvar="IMPLUS_AMI_EVENT_LOOP",
    default="uvloop",
    show_default=True,
    help="uvloop (libuv, in C: about half the bridge's CPU is the loop and its system "
    "calls) or asyncio's own loop (pure Python; for debugging).",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
)
def ami_bridge_command(
    config_path: str,
    pbx_id: str,
    redis_url: str | None,
    domain: str,
    no_push_agents: bool,
    sip_ttl: float,
    reconcile_interval: float,
    event_loop: str,
    log_level: str,
) -> None:
    """Connect one Asterisk (AMI) to the router: callers at entry points become routing
    requests, the router's decisions ring agents' phones, call events go to sessions."""
    logging.basicConfig(
        level=getattr(logging, log_level.upper()),
        format=f"%(asctime)s ami-bridge[{pbx_id}] %(levelname)s %(message)s",
    )
    logging.getLogger("redis").setLevel(logging.INFO)  # its debug lines are not ours
    try:
        config = load_admin_config(config_path)
        settings = settings_from_config(
            config,
            pbx_id,
            redis_url=redis_url,
            domain=domain,
            push_agents=not no_push_agents,
            sip_ttl_s=sip_ttl,
            reconcile_interval_s=reconcile_interval,
        )
    except (AdminConfigError, BridgeConfigError) as e:
        raise click.ClickException(str(e)) from None
    try:
        run_loop(_serve(settings, config), event_loop)
    except AmiLoginFailed as e:
        raise click.ClickException(str(e)) from None


def run_loop(main: Coroutine[Any, Any, None], event_loop: str = "uvloop") -> None:
    """Run `main` on uvloop (asyncio's own loop if asked, or if uvloop is not installed:
    the same asyncio API either way)."""
    if event_loop == "uvloop":
        try:
            import uvloop
        except ImportError:
            logging.getLogger("implus.ami_bridge").warning(
                "uvloop is not installed (pip install uvloop): running on asyncio's own loop"
            )
        else:
            uvloop.run(main)
            return
    asyncio.run(main)


async def _serve(settings: BridgeSettings, config: AdminConfig) -> None:
    from .bridge import AmiBridge

    bridge = AmiBridge(settings, config)
    # Everything loaded so far (modules, the config, parser tables) lives as long as the
    # process: out of the garbage collector's sight, its collections stay short.
    gc.collect()
    gc.freeze()
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stopping.set)
    runner = loop.create_task(bridge.run())
    stop = loop.create_task(stopping.wait())
    done, _ = await asyncio.wait({runner, stop}, return_when=asyncio.FIRST_COMPLETED)
    stop.cancel()
    await bridge.stop()
    if runner in done:
        runner.result()  # the bridge's own error (e.g. AMI login refused)
        return
    runner.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await runner
