"""`implus dialplan check | render | apply` (registered in setup.py's implus.commands)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

import click

from admin_config.errors import AdminConfigError
from admin_config.model import AdminConfig
from admin_config.validate import ValidationResult, validate_file
from dialplan.apply import ApplyResult
from dialplan.apply import apply as apply_config
from dialplan.errors import DialplanError
from dialplan.includes import include_problems
from dialplan.install import plan_install, write_plan
from dialplan.rendering import render, select_pbx

CONFIG_HELP = "The admin YAML (default: $IMPLUS_CONFIG, else ./admin.yaml)."


def _config_option(f: Callable[..., None]) -> Callable[..., None]:
    return click.option(
        "--config",
        "config_path",
        envvar="IMPLUS_CONFIG",
        default="admin.yaml",
        show_default=True,
        type=click.Path(dir_okay=False, path_type=Path),
        help=CONFIG_HELP,
    )(f)


def _fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def _print_problems(result: ValidationResult, source: str) -> None:
    for p in result.problems:
        click.echo(p.format(source), err=p.severity == "error")


def _load(config_path: Path) -> AdminConfig:
    result = validate_file(config_path)
    if result.config is None:
        _print_problems(result, str(config_path))
        _fail(
            f"{len(result.errors)} problem(s) in {config_path}; fix them "
            f"(`implus dialplan check --config {config_path}`)"
        )
    return result.config


@click.group(name="dialplan")
def dialplan_group() -> None:
    """Check, render and apply the PBX configuration generated from the admin YAML."""


def _pbx_folders(config: AdminConfig, given: tuple[str, ...]) -> dict[str, Path]:
    """PBX id -> its configuration folder: `--pbx-config [PBX=]DIR`, else the PBX's
    `config_dir` when that folder exists here."""
    ids = [p.id for p in config.pbxs]
    folders = {p.id: Path(p.config_dir) for p in config.pbxs if p.config_dir}
    folders = {k: v for k, v in folders.items() if v.is_dir()}
    for item in given:
        pbx_id, sep, folder = item.rpartition("=")
        if not sep:
            if len(ids) != 1:
                raise click.BadParameter(
                    f"give --pbx-config as PBX=DIR (PBXs: {', '.join(ids) or 'none'})",
                    param_hint="--pbx-config",
                )
            pbx_id = ids[0]
        if pbx_id not in ids:
            raise click.BadParameter(
                f"unknown PBX {pbx_id!r} (PBXs: {', '.join(ids)})", param_hint="--pbx-config"
            )
        if not Path(folder).is_dir():
            raise click.BadParameter(f"{folder} is not a folder", param_hint="--pbx-config")
        folders[pbx_id] = Path(folder)
    return folders


@dialplan_group.command()
@_config_option
@click.option(
    "--pbx-config",
    "pbx_configs",
    multiple=True,
    metavar="[PBX=]DIR",
    help="A PBX's configuration folder (or a copy): warn when it does not include the "
    "generated files. Default: each PBX's config_dir, when it exists here.",
)
def check(config_path: Path, pbx_configs: tuple[str, ...]) -> None:
    """Report every problem in the admin YAML with its path; exit 1 if any."""
    result = validate_file(config_path)
    if result.config is not None:
        folders = _pbx_folders(result.config, pbx_configs)
        found = [
            problem
            for i, pbx in enumerate(result.config.pbxs)
            if pbx.id in folders
            for problem in include_problems(result.config, pbx, i, folders[pbx.id])
        ]
        result.problems += sorted(found, key=lambda p: (p.file or "", p.line or 0))
    _print_problems(result, str(config_path))
    if result.errors or result.config is None:
        n = len(result.errors)
        click.echo(f"{config_path}: {n} problem(s), {len(result.warnings)} warning(s)", err=True)
        sys.exit(1)
    c = result.config
    kinds = ", ".join(f"{p.id} ({p.kind})" for p in c.pbxs) or "none"
    click.echo(
        f"{config_path}: OK - {len(c.pbxs)} PBX(s): {kinds}; {len(c.services)} service(s), "
        f"{len(c.entry_points)} entry point(s), {len(c.agents)} agent(s), "
        f"{len(c.trunks)} trunk(s); strategy {c.strategy}"
        + (f"; {len(result.warnings)} warning(s)" if result.warnings else "")
    )


@dialplan_group.command(name="render")
@_config_option
@click.option("--pbx", "pbx_name", required=True, help="PBX id, or kind (asterisk|freeswitch).")
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write the include files into (created if needed).",
)
def render_command(config_path: Path, pbx_name: str, out: Path) -> None:
    """Write the include files for one PBX into --out (never over the admin's own files)."""
    config = _load(config_path)
    try:
        pbx = select_pbx(config, pbx_name)
        plan = plan_install(render(config, pbx), out)
        write_plan(plan)
    except (AdminConfigError, DialplanError) as e:
        _fail(str(e))
    for c in plan.changes:
        click.echo(f"{c.status:<9} {out / c.path}")
    click.echo(f"rendered {len(plan.changes)} file(s) for {pbx.id} ({pbx.kind}) into {out}")


@dialplan_group.command(name="apply")
@_config_option
@click.option("--pbx", "pbx_name", required=True, help="PBX id (or kind if only one).")
@click.option(
    "--dest",
    type=click.Path(file_okay=False, path_type=Path),
    help="Install folder (default: the PBX's config_dir).",
)
@click.option("--dry-run", is_flag=True, help="Show what would change; write nothing.")
@click.option("--no-reload", is_flag=True, help="Write the files but do not reload the PBX.")
@click.option("--force-reload", is_flag=True, help="Reload everything even if no file changed.")
@click.option("--quiet", "-q", is_flag=True, help="Summary only, no diffs.")
def apply_command(
    config_path: Path,
    pbx_name: str,
    dest: Path | None,
    dry_run: bool,
    no_reload: bool,
    force_reload: bool,
    quiet: bool,
) -> None:
    """Render, show what changed, write only changed files, reload over AMI/ESL."""
    from admin_config.reloading import reloader_for

    config = _load(config_path)
    try:
        pbx = select_pbx(config, pbx_name)
        reloader = None if (no_reload or dry_run) else reloader_for(pbx)
        result = apply_config(
            config, pbx, reloader, dest=dest, dry_run=dry_run, force_reload=force_reload
        )
    except (AdminConfigError, DialplanError) as e:
        _fail(str(e))
    where = result.plan.dest
    if not result.changed:
        n = len(result.plan.changes)
        click.echo(f"{pbx.id}: nothing to change - {n} file(s) in {where} are up to date")
        _echo_reload(result, no_reload, dry_run)
        return
    for line in result.plan.summary():
        click.echo(line)
    if not quiet:
        for c in result.plan.changed:
            if c.diff:
                click.echo("".join(c.diff).rstrip("\n"))
    if not dry_run:
        click.echo(f"wrote {len(result.plan.changed)} file(s) into {where}")
    _echo_reload(result, no_reload, dry_run)


def _echo_reload(result: ApplyResult, no_reload: bool, dry_run: bool) -> None:
    if not result.owed.empty:
        click.echo("still owed by an earlier apply: " + "; ".join(result.owed.describe()))
    todo = "; ".join(result.reload.describe())
    if dry_run:
        click.echo(f"dry run: nothing written; would reload: {todo or 'nothing'}")
    elif no_reload and todo:
        click.echo(f"not reloaded (--no-reload): {todo}; the next apply reloads it")
    else:
        for line in result.reloaded:
            click.echo(line)
