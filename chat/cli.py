"""`implus chat`: run the chat service under gunicorn; `implus chat add-login` etc.

This module is imported when the `implus` command starts, so it imports nothing heavy at
module level: the gevent worker must monkey-patch before redis, ssl and friends load.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click


def _settings(config: Path | None, **cli: Any) -> Any:
    from chat.errors import ConfigError
    from chat.settings import load_settings

    try:
        return load_settings(config, cli=cli)
    except ConfigError as e:
        raise click.ClickException(str(e)) from None


config_option = click.option(
    "--config",
    "-c",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="YAML settings file (env IMPLUS_CHAT_* and options override it).",
)


@click.group(name="chat", invoke_without_command=True)
@config_option
@click.option("--host", default=None, help="Address to bind (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port to bind (default 8080).")
@click.option("--workers", type=int, default=None, help="Worker processes (chat instances).")
@click.option("--redis-url", default=None, help="The router's Redis.")
@click.option("--domain", default=None, help="Routing domain.")
@click.option("--upload-dir", default=None, help="Where shared files are stored.")
@click.option(
    "--allowed-origin",
    "allowed_origins",
    multiple=True,
    help="Site allowed to embed the widget (repeatable).",
)
@click.option(
    "--demo/--no-demo", "demo_mode", default=None, help="Demo page may mint customer tokens."
)
@click.pass_context
def chat_command(ctx: click.Context, config: Path | None, **options: Any) -> None:
    """Run the chat web service (customer widget, agent desktop, supervisor, admin API)."""
    ctx.ensure_object(dict)
    ctx.obj["config"] = config
    if ctx.invoked_subcommand is not None:
        return
    if not options["allowed_origins"]:
        options["allowed_origins"] = None
    settings = _settings(config, **options)
    from chat.server import run

    sys.exit(run(settings))


@chat_command.command(name="add-login")
@click.argument("role", type=click.Choice(["agent", "admin"]))
@click.argument("account_id")
@click.option("--name", default="", help="Display name.")
@click.password_option(envvar="IMPLUS_CHAT_NEW_PASSWORD", help="Password (prompted if not given).")
@click.pass_context
def add_login(ctx: click.Context, role: str, account_id: str, name: str, password: str) -> None:
    """Create a login (or change its password, which logs it out everywhere)."""
    from chat.accounts import AccountStore, Role
    from chat.errors import ChatError
    from chat.keys import ChatKeys
    from router.connect import redis_from_url

    settings = _settings(ctx.obj.get("config"))
    rds = redis_from_url(settings.redis_url, decode_responses=False)
    store = AccountStore(rds, ChatKeys(settings.domain))
    try:
        store.set_password(Role(role), account_id, password, name)
    except ChatError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"{role} login {account_id!r} saved")


@chat_command.command(name="prune-recordings")
@click.option("--dry-run", is_flag=True, help="List what would be deleted; delete nothing.")
@click.pass_context
def prune_recordings(ctx: click.Context, dry_run: bool) -> None:
    """Delete call recordings older than their service's retention (the admin YAML's
    `recording.retention_days`; `recording_retention_days` for the others). The chat
    service does the same every `prune_interval_s` seconds."""
    from chat.errors import ChatError
    from chat.recordings import RecordingStore

    settings = _settings(ctx.obj.get("config"))
    try:
        store = RecordingStore.from_settings(settings)
        gone = store.prune(dry_run=dry_run)
    except (ChatError, OSError) as e:
        raise click.ClickException(str(e)) from None
    if not store.dirs:
        raise click.ClickException(
            "no recordings folder known: set recordings_dirs (pbx=/folder) or admin_config"
        )
    for path in gone:
        click.echo(str(path))
    verb = "would delete" if dry_run else "deleted"
    click.echo(f"{verb} {len(gone)} recording(s) past their retention", err=True)
