"""`implus sandbox asterisk up|down|status|reload|cli|call`."""

from __future__ import annotations

import sys
from typing import NoReturn

import click

from . import configs
from .asterisk import AsteriskSandbox
from .errors import SandboxError


def _say(message: str) -> None:
    click.echo(message, err=True)


@click.group(name="sandbox")
def sandbox_group() -> None:
    """Local test PBXs on loopback (a real Asterisk 22 in a Debian sid chroot)."""


@sandbox_group.group(name="asterisk")
def asterisk_group() -> None:
    """The Asterisk sandbox (chroot in ~/.cache/implus/sandbox, or $IMPLUS_SANDBOX_DIR)."""


@asterisk_group.command()
def up() -> None:
    """Build the chroot if missing, start Asterisk, wait until AMI is FullyBooted."""
    box = AsteriskSandbox()
    try:
        took = box.up(report=_say)
    except SandboxError as e:
        _fail(e)
    click.echo(f"Asterisk sandbox is up ({box.version()}, pid {box.pid()}, {took:.1f} s)")
    click.echo(
        f"  AMI     {configs.AMI_HOST}:{configs.AMI_PORT}  "
        f"user {configs.AMI_USER}  secret {configs.AMI_SECRET}"
    )
    click.echo(
        f"  SIP     udp {configs.SIP_HOST}:{configs.SIP_PORT}; customers call from "
        f"{configs.CUSTOMER_HOST} (context sandbox-inbound), "
        f"PJSIP/<number>@customers rings {configs.CUSTOMER_HOST}:{configs.CUSTOMER_UAS_PORT}"
    )
    click.echo(f"  config  {box.etc}/{{extensions,pjsip,manager}}_implus.conf")
    click.echo("          then `implus sandbox asterisk reload`")
    click.echo(f"  console chroot {box.root} asterisk -r")
    click.echo(f"  calls   chroot {box.root} sipp ...   (see docs/asterisk-sandbox.md)")
    click.echo("  stop    implus sandbox asterisk down")


@asterisk_group.command()
@click.option("--force", is_flag=True, help="Stop it even while a test session uses it.")
def down(force: bool) -> None:
    """Stop Asterisk and unmount the chroot's /proc (the chroot stays cached)."""
    box = AsteriskSandbox()
    holder = box.lock_holder()
    if holder and not force:
        _fail(
            SandboxError(
                f"a test session is using the sandbox ({holder}); wait for it to finish, "
                "or `implus sandbox asterisk down --force` (its tests will fail)"
            )
        )
    try:
        box.down(report=_say)
    except SandboxError as e:
        _fail(e)
    click.echo("Asterisk sandbox is down")


@asterisk_group.command()
def status() -> None:
    """Report whether the chroot is built, Asterisk runs and AMI answers."""
    state = AsteriskSandbox().status()
    for line in state.lines():
        click.echo(line)
    sys.exit(0 if state.ami_ready and state.running else 3)


@asterisk_group.command()
def reload() -> None:
    """Reload PJSIP, dialplan, manager and music on hold after editing the includes."""
    try:
        AsteriskSandbox().reload()
    except SandboxError as e:
        _fail(e)
    click.echo("reloaded")


@asterisk_group.command(name="cli")
@click.argument("command", nargs=-1, required=True)
def cli_command(command: tuple[str, ...]) -> None:
    """Run an Asterisk CLI command, e.g. `implus sandbox asterisk cli pjsip show contacts`."""
    try:
        click.echo(AsteriskSandbox().cli(" ".join(command)), nl=False)
    except SandboxError as e:
        _fail(e)


@asterisk_group.command(name="call")
@click.argument("extension")
@click.option("--caller", default="5551234", show_default=True, help="The caller's number.")
@click.option(
    "--hold",
    type=click.FloatRange(0.1, 3600),
    default=20.0,
    show_default=True,
    help="Seconds the customer stays on after an agent answers.",
)
@click.option(
    "--max-wait",
    type=click.FloatRange(1, 3600),
    default=120.0,
    show_default=True,
    help="Give up (hang up) after this many seconds in all.",
)
def call_command(extension: str, caller: str, hold: float, max_wait: float) -> None:
    """A customer (sipp on 127.0.0.2) calls EXTENSION, e.g. an entry point like 800."""
    if not extension.isdigit() or not caller.lstrip("+").isdigit():
        raise click.BadParameter("the extension and --caller must be digits")
    box = AsteriskSandbox()
    if not box.is_running():
        _fail(SandboxError("the sandbox is not running: `implus sandbox asterisk up`"))
    from .sipp import Sipp

    click.echo(f"calling {extension} from {caller} (up to {max_wait:.0f} s) ...")
    try:
        run = Sipp(box).customer_call(extension, caller=caller, hold=hold, max_seconds=max_wait)
        result = run.wait(max_wait + 10)
    except SandboxError as e:
        _fail(e)
    click.echo(result.describe())
    sys.exit(0 if result.ok else 1)


def _fail(error: SandboxError) -> NoReturn:
    _say(f"error: {error}")
    sys.exit(1)
