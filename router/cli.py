"""The `implus` console command.

The router core owns the top-level group but imports none of the other packages: each
package registers its subcommands under the `implus.commands` entry-point group in
setup.py (e.g. `chat = chat.cli:chat_command`), and they are attached here at start.
"""

from __future__ import annotations

import sys
from importlib.metadata import entry_points

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="implus")
def main() -> None:
    """implus: one router for voice and chat on your own PBX."""


@main.group(name="router", invoke_without_command=True)
@click.pass_context
def router_group(ctx: click.Context) -> None:
    """Run allocation workers (default) or inspect routing decisions."""
    if ctx.invoked_subcommand is None:
        click.echo("the allocation worker is not built yet", err=True)
        sys.exit(2)


def _attach_plugins() -> None:
    for ep in entry_points(group="implus.commands"):
        if ep.name in main.commands:
            continue
        try:
            command = ep.load()
        except ImportError as e:  # a broken optional package must not break the others
            click.echo(f"implus: subcommand {ep.name!r} unavailable: {e}", err=True)
            continue
        main.add_command(command, ep.name)


_attach_plugins()
