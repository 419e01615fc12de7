"""implus on a Redis Cluster: the clients, the master of a domain's slot, moving a domain.

A routing domain's keys all carry the hash tag ``{domain}`` (:mod:`router.keys`), so a
domain lives in ONE hash slot, on one master; the Lua scripts declare their KEYS and the
keys they name from data are in the same slot. redis-py's cluster client
(:class:`redis.cluster.RedisCluster`, :class:`redis.asyncio.cluster.RedisCluster`) routes
each command and pipeline by its keys and follows MOVED redirections and failovers.

Two things need more than the cluster client:

- Acknowledgements (:mod:`router.durable`): the script, ``PUBLISH`` and ``WAIT`` must go on
  ONE connection to the master that ran the script. :func:`slot_master` gives a plain
  client of the master owning the domain's slot; a step it refuses with MOVED / ASK /
  TRYAGAIN / CLUSTERDOWN (the slot moved or is moving: the script did not run) is sent
  again after the slot map is refreshed (:func:`retrying`).
- Moving a domain to another master (:func:`move_slot`). Redis's own procedure
  (``redis-cli --cluster reshard``) moves a slot's keys in batches while the slot is
  MIGRATING; a script that then touches a key named from data that is not (or no longer)
  on the source fails half-way with "Script attempted to access a non local key" - and
  Redis does not undo the writes it made before. So implus moves a domain's slot in ONE
  Lua script on the source (list the keys, ``MIGRATE`` them all, hand the slot over),
  which no command can interleave with; the source is busy for as long as the MIGRATE
  takes (see docs/scaling.md).
"""

from __future__ import annotations

import contextlib
import inspect
import os
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import unquote

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.cluster
import redis.exceptions

from router.errors import InvalidInput

REDIRECTS = (
    redis.exceptions.AskError,  # MovedError is one
    redis.exceptions.TryAgainError,
    redis.exceptions.ClusterDownError,
)
"""Refusals that mean "not run here: the slot moved or is moving"; safe to send again."""
REDIRECT_PATIENCE_S = 5.0
"""How long a step keeps following a moving slot before it is "Redis unavailable"."""

_MOVE_SLOT = """
local slot, host, port, timeout, dst = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local moved = 0
while true do
  local keys = redis.call('CLUSTER', 'GETKEYSINSLOT', slot, 1000)
  if #keys == 0 then break end
  redis.call('MIGRATE', host, port, '', 0, timeout, 'REPLACE', 'KEYS', unpack(keys))
  moved = moved + #keys
end
redis.call('CLUSTER', 'SETSLOT', slot, 'NODE', dst)
return moved
"""
"""Runs on the source master: every key of the slot to the target, then the slot itself,
with no command of any client in between."""


def is_cluster(rds: Any) -> bool:
    return isinstance(rds, redis.cluster.RedisCluster | redis.asyncio.cluster.RedisCluster)


def cluster_client(
    nodes: tuple[tuple[str, int], ...], *, asyncio: bool, blocking_pool: int | None, **kwargs: Any
) -> Any:
    """A redis-py cluster client that knows the cluster from ``nodes`` (any of them).

    It does not require every slot to be served: a process keeps serving its domains while
    another master fails over. ``blocking_pool=N``: at most N connections per node; the
    sync client waits for a free one, the asyncio client raises MaxConnectionsError (read
    as "unavailable, retry") - the AMI bridge bounds its own concurrency below N."""
    packer = kwargs.pop("command_packer", None)
    timeout = kwargs.pop("timeout", None)
    if asyncio:
        lib: Any = redis.asyncio.cluster
        kwargs.pop("max_connections", None)
        if blocking_pool:
            kwargs["max_connections"] = blocking_pool
    else:
        lib = redis.cluster
        if packer is not None:  # the cluster client does not pass command_packer on
            kwargs["connection_class"] = _packing_connection(packer)
        if blocking_pool:
            kwargs.update(connection_pool_class=redis.BlockingConnectionPool, timeout=timeout)
    return lib.RedisCluster(
        startup_nodes=[lib.ClusterNode(host, port) for host, port in nodes],
        require_full_coverage=False,
        **kwargs,
    )


def parse_url(url: str, scheme: str, parts: Any, query: dict[str, str]) -> dict[str, Any]:
    """The settings of a ``redis+cluster://`` URL (:func:`router.connect.parse` builds
    its ``RedisTarget`` from them)."""
    from router.connect import OUR_PARAMS, _durability, _host_port, _redacted, _seconds

    known = ("socket_timeout", "socket_connect_timeout", *OUR_PARAMS)
    unknown = set(query) - set(known)
    if unknown:
        raise InvalidInput(
            f"unknown setting(s) {', '.join(sorted(unknown))} in the cluster URL; known: "
            f"{', '.join(known)}"
        )
    userinfo, _, hostlist = parts.netloc.rpartition("@")
    nodes = tuple(_host_port(h, url, 6379) for h in hostlist.split(",") if h)
    if not nodes:
        raise InvalidInput(f"no node address in {_redacted(url)}: name host:port[,host:port]")
    if parts.path.strip("/") not in ("", "0"):
        raise InvalidInput(
            f"a Redis Cluster has only database 0: write redis+cluster://host:port,host:port/, "
            f"got {_redacted(url)}"
        )
    username, _, password = userinfo.partition(":") if userinfo else ("", "", "")
    return {
        "cluster_nodes": nodes,
        "username": unquote(username) or None,
        "password": unquote(password) or os.environ.get("IMPLUS_REDIS_PASSWORD") or None,
        "ssl": scheme == "rediss+cluster",
        "socket_timeout": _seconds(query, "socket_timeout", 3.0, url),
        "socket_connect_timeout": _seconds(query, "socket_connect_timeout", 1.0, url),
        "durability": _durability(query, default_replicas=1),
    }


def _packing_connection(packer: Any) -> type:
    """A connection class that packs with ``packer`` (router.client.packer.HiredisPacker)."""

    class PackingConnection(redis.Connection):
        def __init__(self, **kwargs: Any) -> None:
            kwargs.setdefault("command_packer", packer)
            super().__init__(**kwargs)

    return PackingConnection


# --- the master of a domain's slot ----------------------------------------------------


def slot_master(rds: Any, key: str) -> tuple[str, Any]:
    """``(address, plain client)`` of the master serving ``key``'s slot, as the cluster
    client's slot map says (sync)."""
    node = rds.get_node_from_key(key)
    return str(node.name), rds.get_redis_connection(node)


def slot_master_async(rds: Any, key: str) -> tuple[str, Any]:
    """:func:`slot_master` for the asyncio cluster client (its nodes have no client
    object: one plain client per address is kept on the cluster client)."""
    node = rds.get_node_from_key(key)
    masters: dict[str, Any] = rds.__dict__.setdefault("_implus_masters", {})
    client = masters.get(node.name)
    if client is None:
        known = inspect.signature(redis.asyncio.Redis.__init__).parameters
        options = {
            k: v
            for k, v in node.connection_kwargs.items()
            if k in known and k not in ("host", "port", "maint_notifications_config")
        }  # the cluster's own connection settings (login, timeouts, decoding)
        client = redis.asyncio.Redis(host=node.host, port=node.port, **options)
        masters[node.name] = client
    return str(node.name), client


async def close_async(rds: Any) -> None:
    """Close the plain clients :func:`slot_master_async` kept on ``rds`` (if any)."""
    for client in rds.__dict__.pop("_implus_masters", {}).values():
        await client.aclose()


def retrying() -> Iterator[int]:
    """Attempts of a pinned step: the caller breaks out on success and calls
    :func:`pause` after a redirect; past :data:`REDIRECT_PATIENCE_S` the last redirect
    is raised by the caller (it is a failover-like error: "retry later")."""
    deadline = time.monotonic() + REDIRECT_PATIENCE_S
    attempt = 0
    while True:
        yield attempt
        attempt += 1
        if time.monotonic() > deadline:
            return


def pause(attempt: int) -> float:
    """Seconds to wait before attempt ``attempt + 1`` (a slot hand-over takes a few ms, a
    failover a few seconds)."""
    return float(min(0.01 * (2**attempt), 0.25))


def refresh(rds: Any) -> None:
    """Ask the cluster again who serves which slot (sync client)."""
    with contextlib.suppress(redis.exceptions.RedisError):  # the next command asks again
        rds.nodes_manager.initialize()


async def refresh_async(rds: Any) -> None:
    with contextlib.suppress(redis.exceptions.RedisError):
        await rds.nodes_manager.initialize()


def run_pinned(rds: Any, key: str, step: Callable[[str, Any], Any]) -> Any:
    """Run ``step(address, client)`` on the master of ``key``'s slot, again after a
    redirect (the slot moved or is moving), until :data:`REDIRECT_PATIENCE_S`."""
    last: Exception | None = None
    for attempt in retrying():
        address, client = slot_master(rds, key)
        try:
            return step(address, client)
        except REDIRECTS as e:
            last = e
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
            refresh(rds)  # the master is gone; its replica may take over
            raise
        refresh(rds)
        time.sleep(pause(attempt))
    assert last is not None
    raise last


async def run_pinned_async(rds: Any, key: str, step: Callable[[str, Any], Any]) -> Any:
    """:func:`run_pinned` for the asyncio cluster client (``step`` is a coroutine)."""
    import asyncio

    await rds.initialize()  # a new asyncio cluster client learns the slots lazily
    last: Exception | None = None
    for attempt in retrying():
        address, client = slot_master_async(rds, key)
        try:
            return await step(address, client)
        except REDIRECTS as e:
            last = e
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
            await refresh_async(rds)
            raise
        await refresh_async(rds)
        await asyncio.sleep(pause(attempt))
    assert last is not None
    raise last


# --- who answers, and moving a domain ---------------------------------------------------


def identity(rds: Any) -> str:
    """What changes when another server answers for some slot (a failover, a restart):
    the masters' addresses and ``run_id`` s (sync cluster client)."""
    infos = rds.info("server", target_nodes=redis.cluster.RedisCluster.PRIMARIES)
    return _identity(infos)


async def identity_async(rds: Any) -> str:
    infos = await rds.info("server", target_nodes=redis.asyncio.cluster.RedisCluster.PRIMARIES)
    return _identity(infos)


def _identity(infos: Any) -> str:
    if isinstance(infos, dict) and "run_id" in infos:
        return str(infos["run_id"])
    return ",".join(f"{name}={info.get('run_id')}" for name, info in sorted(infos.items()))


def move_slot(rds: Any, slot: int, target: str, migrate_timeout_ms: int = 60_000) -> int:
    """Move ``slot`` (a domain's: :func:`domain_slot`) with all its keys to the master at
    ``target`` ("host:port"), atomically on the source. Returns how many keys moved.

    The target is told first that it imports the slot; one script on the source migrates
    every key and gives the slot away; the target then takes the slot with a new
    configuration epoch and every other master is told."""
    refresh(rds)
    source = rds.nodes_manager.get_node_from_slot(slot)
    dst = rds.get_node(node_name=target)
    if dst is None or dst.server_type != redis.cluster.PRIMARY:
        raise ValueError(f"{target} is not a master of this cluster; name one of "
                         f"{', '.join(n.name for n in rds.get_primaries())}")  # fmt: skip
    if source.name == dst.name:
        return 0
    src_client, dst_client = rds.get_redis_connection(source), rds.get_redis_connection(dst)
    src_id, dst_id = (
        src_client.execute_command("CLUSTER MYID"),
        dst_client.execute_command("CLUSTER MYID"),
    )
    dst_client.execute_command("CLUSTER SETSLOT", slot, "IMPORTING", src_id)
    try:
        moved = src_client.eval(_MOVE_SLOT, 0, slot, dst.host, dst.port, migrate_timeout_ms, dst_id)
    except redis.exceptions.RedisError:
        dst_client.execute_command("CLUSTER SETSLOT", slot, "STABLE")
        raise
    dst_client.execute_command("CLUSTER SETSLOT", slot, "NODE", dst_id)
    for node in rds.get_primaries():
        if node.name not in (source.name, dst.name):
            with contextlib.suppress(redis.exceptions.RedisError):  # it learns from the bus
                rds.get_redis_connection(node).execute_command(
                    "CLUSTER SETSLOT", slot, "NODE", dst_id
                )
    refresh(rds)
    return int(moved)


def domain_slot(domain: str) -> int:
    """The hash slot of every key of ``domain``."""
    return int(redis.cluster.key_slot(f"{{{domain}}}".encode()))
