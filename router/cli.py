"""The `implus` console command.

The router core owns the top-level group but imports none of the other packages: each
package registers its subcommands under the `implus.commands` entry-point group in
setup.py (e.g. `chat = chat.cli:chat_command`), loaded here when asked for (not at
start: an `implus router` worker imports none of them).
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import signal
import sys
import time
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import click

REDIS_URL = click.option(
    "--redis-url",
    envvar="IMPLUS_REDIS_URL",
    default="redis://127.0.0.1:6379/0",
    show_default=True,
    help="Redis holding the routing state (env IMPLUS_REDIS_URL): redis://, rediss://, "
    "unix://, redis+sentinel://host:port,host:port/master_name or "
    "redis+cluster://host:port,host:port/ (docs/scaling.md).",
)


class _PluginGroup(click.Group):
    """The top-level group: a package's subcommands (entry points of `implus.commands`) are
    loaded when they are asked for - by name, or for the list in `--help` - not at start.
    Loading them all imported every package (~0.17 s of CPU) into each `implus router`
    worker process, which needs none of them."""

    def _plugins(self) -> dict[str, Any]:
        return {
            ep.name: ep
            for ep in entry_points(group="implus.commands")
            if ep.name not in self.commands
        }

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None:
            ep = self._plugins().get(cmd_name)
            if ep is not None:
                command = self._load(ep)
        return command

    def list_commands(self, ctx: click.Context) -> list[str]:
        for ep in self._plugins().values():
            self._load(ep)  # only those that load are listed
        return super().list_commands(ctx)

    def _load(self, ep: Any) -> click.Command | None:
        try:
            command = ep.load()
        except ImportError as e:  # a broken optional package must not break the others
            click.echo(f"implus: subcommand {ep.name!r} unavailable: {e}", err=True)
            return None
        self.add_command(command, ep.name)
        return command


@click.group(cls=_PluginGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="implus")
def main() -> None:
    """implus: one router for voice and chat on your own PBX."""


def _client(redis_url: str, domain: str) -> Any:
    from router.client import RouterClient
    from router.errors import InvalidInput, RouterUnavailable

    try:
        client = RouterClient.from_url(redis_url, domain)
    except (ValueError, InvalidInput) as e:
        raise click.ClickException(
            f"--redis-url {_safe_url(redis_url)!r} is not a Redis URL ({e}); write it like "
            "redis://127.0.0.1:6379/0, redis+sentinel://host:26379,host:26379/master_name or "
            "redis+cluster://host:6379,host:6379/"
        ) from None
    try:
        client.redis.ping()
    except Exception as e:
        raise click.ClickException(
            f"cannot reach Redis at {_safe_url(redis_url)}: {e}. "
            "Start redis-server or pass --redis-url."
        ) from None
    _ = RouterUnavailable
    return client


def _safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


def _run_worker(redis_url: str, domain: str, index: int, workers: int = 1) -> None:
    from router.client import RouterClient
    from router.worker import Worker, WorkerSettings

    logging.basicConfig(
        level=logging.INFO,
        format=f"%(asctime)s router[{domain}/{index}] %(levelname)s %(message)s",
    )
    # Workers started together each prefer their share of the agents: fewer lost races.
    settings = WorkerSettings(share=(index, workers) if workers > 1 else None)
    worker = Worker(RouterClient.from_url(redis_url, domain), settings=settings)
    signal.signal(signal.SIGTERM, lambda *_: worker.stop())
    signal.signal(signal.SIGINT, lambda *_: worker.stop())
    worker.run()


def _also_after(command: Any) -> Any:
    """Accept `--redis-url` and `--domain` after the subcommand too (`implus router status
    --redis-url URL`), where users put them, not only before it."""

    def keep(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
        if value is not None and param.name is not None:
            ctx.ensure_object(dict)[param.name] = value

    for name, text in (("--domain", "Routing domain"), ("--redis-url", "Redis URL")):
        command = click.option(
            name, default=None, expose_value=False, callback=keep,
            help=f"{text}; the same as giving it before the subcommand.",
        )(command)  # fmt: skip
    return command


@main.group(name="router", invoke_without_command=True)
@REDIS_URL
@click.option(
    "--domain",
    "domains",
    envvar="IMPLUS_DOMAIN",
    multiple=True,
    help="Routing domain: all its keys share one Redis hash tag. Repeat it to run workers "
    "for several domains (`--domain a --domain b`; env IMPLUS_DOMAIN: names separated by "
    "spaces); inspecting commands take one. [default: default]",
)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Allocation worker processes to run per domain.",
)
@click.pass_context
def router_group(
    ctx: click.Context, redis_url: str, domains: tuple[str, ...], workers: int
) -> None:
    """Run allocation workers (default), or inspect and steer routing."""
    domains = tuple(dict.fromkeys(domains)) or ("default",)
    ctx.obj = {"redis_url": redis_url, "domain": domains[0]}
    if ctx.invoked_subcommand is not None:
        if len(domains) > 1:
            raise click.UsageError(
                f"`implus router {ctx.invoked_subcommand}` works on one domain: give one "
                f"--domain (got {', '.join(domains)})"
            )
        return
    for domain in domains:
        _client(redis_url, domain).close()
    click.echo(
        f"implus router: {workers} worker(s) per domain on {_safe_url(redis_url)}, "
        f"domain(s) {', '.join(repr(d) for d in domains)}; Ctrl-C stops"
    )
    if workers == 1 and len(domains) == 1:
        _run_worker(redis_url, domains[0], 0)
        return
    procs = [
        multiprocessing.Process(
            target=_run_worker, args=(redis_url, domain, i, workers), daemon=False
        )
        for domain in domains
        for i in range(workers)
    ]
    for p in procs:
        p.start()

    def _stop(*_: object) -> None:
        for p in procs:
            if p.is_alive():
                p.terminate()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    for p in procs:
        p.join()


@router_group.command()
@_also_after
@click.argument("request_id")
@click.option("--json", "as_json", is_flag=True, help="Print the raw traces as JSON.")
@click.pass_obj
def explain(obj: dict[str, str], request_id: str, as_json: bool) -> None:
    """Print every routing decision taken for REQUEST_ID and why."""
    client = _client(obj["redis_url"], obj["domain"])
    request = client.request(request_id)
    traces = client.explain(request_id)
    if request is None and not traces:
        raise click.ClickException(f"no request {request_id!r} (requests are kept for 30 days)")
    if as_json:
        click.echo(
            json.dumps(
                {"request": request.__dict__ if request else None, "decisions": traces},
                default=str,
                indent=2,
            )
        )
        return
    if request is not None:
        click.echo(
            f"request {request.id}: {request.channel.value} {request.service} for user "
            f"{request.user_id}, session {request.session_id}, now {request.state.value}"
            + (f" with {request.agent}" if request.agent else "")
        )
    for i, t in enumerate(traces, 1):
        click.echo(
            f"\n#{i} at {time.strftime('%H:%M:%S', time.localtime(t['at'] / 1000))} "
            f"(waited {t.get('waited_s', 0)}s, strategy v{t.get('strategy')})"
        )
        if t.get("rule"):
            click.echo(f"  rule {t['rule']}, goal step {t.get('step', 0)}, order {t.get('order')}")
            for target in t.get("targets", []):
                skills = ", ".join(f"{k}>={v}" for k, v in target["skills"].items()) or "any skills"
                click.echo(f"  target queue {target['queue']}: {skills}")
        for note in t.get("notes", []):
            click.echo(f"  note: {note}")
        for c in t.get("considered", []):
            click.echo(f"  candidate {c['agent']} via {c['via']}: {c.get('skipped') or 'eligible'}")
        click.echo(f"  -> {t.get('outcome')}: {t.get('why', '')}")


@router_group.command("load-strategy")
@_also_after
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.pass_obj
def load_strategy(obj: dict[str, str], path: str) -> None:
    """Validate PATH and make it the live strategy (applies to waiting requests too)."""
    from router.errors import StrategyError

    client = _client(obj["redis_url"], obj["domain"])
    try:
        text = Path(path).read_text(encoding="utf-8")
        version = client.load_strategy(text)
    except StrategyError as e:
        click.echo(f"{path}: not loaded, fix these and retry:", err=True)
        for problem in e.problems:
            click.echo(f"  {problem}", err=True)
        sys.exit(1)
    click.echo(f"strategy v{version} loaded from {path}; waiting requests are being re-decided")


@router_group.command("check-strategy")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
def check_strategy(path: str) -> None:
    """Validate a strategy file without loading it."""
    from router.errors import StrategyError
    from router.strategy import load_strategy_file

    try:
        s = load_strategy_file(path)
    except StrategyError as e:
        for problem in e.problems:
            click.echo(problem, err=True)
        sys.exit(1)
    click.echo(f"{path}: ok, {len(s.rules)} rules, queues {', '.join(s.queue_names) or 'none'}")


@router_group.command("dry-run")
@_also_after
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--last", default=10_000, show_default=True, help="How many recent requests to replay."
)
@click.pass_obj
def dry_run_command(obj: dict[str, str], path: str, last: int) -> None:
    """Show how PATH would route the most recent requests, compared with the live strategy."""
    from router.dryrun import dry_run
    from router.errors import StrategyError
    from router.strategy import load_strategy_file

    client = _client(obj["redis_url"], obj["domain"])
    try:
        new = load_strategy_file(path)
    except StrategyError as e:
        for problem in e.problems:
            click.echo(problem, err=True)
        sys.exit(1)
    ids = [
        e.get("request")
        for e in client.read_events("0-0", None, 1_000_000)
        if e.type == "request.created"
    ]
    requests = [r for r in (client.request(i) for i in ids[-last:]) if r is not None]
    report = dry_run(requests, client.strategy(), new)
    click.echo(
        f"{report.requests} recent requests replayed; {report.changed} would be routed differently"
    )
    for (before, after), n in report.moves.most_common(20):
        click.echo(f"  {n:>6}  {before}  =>  {after}")
    for note, n in report.notes.most_common(5):
        click.echo(f"  note ({n}x): {note}")


@router_group.command("move-domain")
@_also_after
@click.option("--to", "target", required=True, help="The master to move to, as host:port.")
@click.pass_obj
def move_domain(obj: dict[str, str], target: str) -> None:
    """Move the domain (its hash slot and every key in it) to another master of a Redis
    Cluster, atomically on the source master (docs/scaling.md)."""
    from router import cluster

    client = _client(obj["redis_url"], obj["domain"])
    if not cluster.is_cluster(client.redis):
        raise click.ClickException("move-domain needs a redis+cluster:// URL")
    slot = cluster.domain_slot(obj["domain"])
    started = time.monotonic()
    try:
        moved = cluster.move_slot(client.redis, slot, target)
    except ValueError as e:
        raise click.ClickException(str(e)) from None
    click.echo(
        f"domain {obj['domain']!r} (slot {slot}) is on {target}: {moved} keys moved in "
        f"{time.monotonic() - started:.2f} s"
    )


@router_group.command()
@_also_after
@click.pass_obj
def audit(obj: dict[str, str]) -> None:
    """Replay the event log and check the routing invariants (no double assignment...)."""
    from router.audit import audit as run_audit

    client = _client(obj["redis_url"], obj["domain"])
    capacity = {a.id: dict(a.profile.capacity) for a in client.agents()}
    report = run_audit(client.read_events("0-0", None, 10_000_000), capacity)
    click.echo(
        f"{report.requests} requests, {report.offers} offers, {report.accepted} accepted; "
        f"ended: {dict(report.ended)}; still open: {len(report.open_requests)}"
    )
    for problem in report.problems:
        click.echo(f"PROBLEM: {problem}")
    if not report.ok:
        sys.exit(1)
    click.echo("ok: no double assignment, no offer ended twice, capacity never exceeded")


@router_group.command()
@_also_after
@click.pass_obj
def status(obj: dict[str, str]) -> None:
    """Queues (waiting, longest wait, estimated wait, service level) and agents."""
    client = _client(obj["redis_url"], obj["domain"])
    now = int(time.time() * 1000)
    click.echo("queue            channel  waiting  longest  est.wait  SL     free agents")
    for q in client.queue_stats():
        ewt = "-" if q.estimated_wait_s is None else f"{q.estimated_wait_s:.0f}s"
        sl = "-" if q.service_level is None else f"{q.service_level:.0%}"
        click.echo(
            f"{q.queue:<16} {q.channel:<8} {q.waiting:>7}  {q.longest_wait_s:>6.0f}s  {ewt:>8}  "
            f"{sl:>5}  {q.free_agents:>5}"
        )
    agents = client.agents()
    click.echo(f"\n{len(agents)} agents")
    for a in agents[:50]:
        load = ", ".join(
            f"{k} {v}/{a.profile.capacity.get(k, 0)}" for k, v in sorted(a.load.items())
        )
        click.echo(f"  {a.id:<16} {a.effective_status(now):<10} {a.reason:<14} {load}")
    _recent_requests(client)


def _recent_requests(client: Any, count: int = 10) -> None:
    """The newest routing requests with their ids (what `implus router explain` takes)."""
    rows = client.redis.xrevrange(client.keys.events(), count=2000)
    ids = [f["request"] for _i, f in rows if f.get("type") == "request.created"][:count]
    if not ids:
        return
    click.echo("\nrecent requests (implus router explain REQUEST_ID tells why)")
    for request in (client.request(i) for i in ids):
        if request is None:
            continue
        at = time.strftime("%H:%M:%S", time.localtime(request.created / 1000))
        who = f" {request.agent}" if request.agent else ""
        click.echo(
            f"  {request.id}  {at}  {request.channel.value:<5} {request.service:<12} "
            f"user {request.user_id:<14} {request.state.value}{who}"
        )
