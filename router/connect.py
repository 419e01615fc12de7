"""Redis connections for every implus process, from one URL: one Redis or a Sentinel set.

    rds = redis_from_url("redis+sentinel://10.0.0.1:26379,10.0.0.2:26379/implus/0")
    rds = redis_from_url("redis://127.0.0.1:6379/0", asyncio=True, blocking_pool=40)

Schemes: ``redis://``, ``rediss://`` and ``unix://`` (redis-py's own forms) and
``redis+sentinel://[[user]:password@]host:port[,host:port...]/master_name[/db][?...]``
(``rediss+sentinel://`` with TLS), served by redis-py's Sentinel support. Query settings of
a Sentinel URL: ``sentinel_password`` / ``sentinel_username`` (the sentinels' own login),
``socket_timeout`` (s, default 3: a master that stopped answering is given up after that
long; it must exceed the longest blocking read, 1 s), ``socket_connect_timeout`` (s,
default 1),
``min_other_sentinels`` (trust a sentinel only if it sees that many others, default 0).

``redis+cluster://[[user]:password@]host:port[,host:port...]/[?...]`` (``rediss+cluster://``
with TLS): a Redis Cluster through redis-py's cluster client (:mod:`router.cluster`); the
addresses are seeds (any nodes), the client learns the rest. Settings: ``socket_timeout``,
``socket_connect_timeout``, ``wait_replicas`` / ``wait_timeout_ms``.
Passwords may stay out of the URL (and out of process lists): ``IMPLUS_REDIS_PASSWORD``
and ``IMPLUS_REDIS_SENTINEL_PASSWORD`` are used when the URL names none.

Every URL also takes ``wait_replicas`` and ``wait_timeout_ms``: how acknowledgements wait
for replicas (:mod:`router.durable`; on by default for Sentinel and cluster URLs).

How a client follows a failover by itself: each new connection asks the sentinels where
the master is and checks that the server answering says ``ROLE`` master (a node that was
cut off and came back still believing it is the master is refused); at most once a second
a pool asks the sentinels again and drops its idle connections when the master moved (a
connection in use is dropped when it is returned); a write refused with READONLY drops the
connection (redis-py). Commands that fail meanwhile are retried by redis-py's retry policy
and then surface as connection errors, which callers treat as "Redis unavailable, retry".
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import redis
import redis.asyncio
import redis.asyncio.sentinel
import redis.exceptions
import redis.sentinel

from router import cluster
from router.durable import Durability
from router.errors import InvalidInput

SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel")
CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")
PLAIN_SCHEMES = ("redis", "rediss", "unix")
CHECK_INTERVAL_S = 1.0
"""How often a pool asks the sentinels again where the master is."""
OUR_PARAMS = ("wait_replicas", "wait_timeout_ms")
SENTINEL_PARAMS = (
    "sentinel_password",
    "sentinel_username",
    "socket_timeout",
    "socket_connect_timeout",
    "min_other_sentinels",
)
DEFAULT_WAIT_TIMEOUT_MS = 500


@dataclass(frozen=True)
class RedisTarget:
    """Where Redis is, as one URL says it (see the module docstring)."""

    url: str = field(repr=False)
    """The URL without the settings only implus reads (what redis-py gets, for plain URLs);
    it may hold a password, so it is not in the repr."""
    sentinels: tuple[tuple[str, int], ...] = ()
    master_name: str = ""
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    sentinel_username: str | None = None
    sentinel_password: str | None = field(default=None, repr=False)
    ssl: bool = False
    socket_timeout: float = 3.0
    socket_connect_timeout: float = 1.0
    min_other_sentinels: int = 0
    durability: Durability | None = None
    cluster_nodes: tuple[tuple[str, int], ...] = ()
    """Seed nodes of a Redis Cluster (``redis+cluster://``)."""

    @property
    def is_sentinel(self) -> bool:
        return bool(self.sentinels)

    @property
    def is_cluster(self) -> bool:
        return bool(self.cluster_nodes)


def parse(url: str) -> RedisTarget:
    """Read a Redis URL; raises InvalidInput saying what is wrong and what a good one is."""
    if not isinstance(url, str) or "://" not in url:
        raise InvalidInput(f"not a Redis URL: {url!r}; e.g. redis://127.0.0.1:6379/0")
    scheme = url.split("://", 1)[0].lower()
    parts = urlsplit(url)
    query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    if scheme in PLAIN_SCHEMES:
        rest = "&".join(f"{k}={v}" for k, v in query.items() if k not in OUR_PARAMS)
        plain = url.split("?", 1)[0] + (f"?{rest}" if rest else "")
        return RedisTarget(url=plain, durability=_durability(query, default_replicas=0))
    if scheme in CLUSTER_SCHEMES:
        return RedisTarget(url=url, **cluster.parse_url(url, scheme, parts, query))
    if scheme not in SENTINEL_SCHEMES:
        raise InvalidInput(
            f"unknown Redis URL scheme {scheme!r}: use redis://, rediss://, unix://, "
            "redis+sentinel://host:port,host:port/master_name or "
            "redis+cluster://host:port,host:port/"
        )
    unknown = set(query) - set(OUR_PARAMS) - set(SENTINEL_PARAMS)
    if unknown:
        raise InvalidInput(
            f"unknown setting(s) {', '.join(sorted(unknown))} in the Sentinel URL; known: "
            f"{', '.join(SENTINEL_PARAMS + OUR_PARAMS)}"
        )
    userinfo, _, hostlist = parts.netloc.rpartition("@")
    sentinels = tuple(_host_port(h, url) for h in hostlist.split(",") if h)
    if not sentinels:
        raise InvalidInput(f"no sentinel address in {_redacted(url)}: name host:port[,host:port]")
    path = [p for p in parts.path.split("/") if p]
    if not path or len(path) > 2:
        raise InvalidInput(
            f"the Sentinel URL must name the master: redis+sentinel://hosts/master_name[/db], "
            f"got {_redacted(url)}"
        )
    username, _, password = userinfo.partition(":") if userinfo else ("", "", "")
    return RedisTarget(
        url=url,
        sentinels=sentinels,
        master_name=unquote(path[0]),
        db=int(_number(path[1], "db", url)) if len(path) > 1 else 0,
        username=unquote(username) or None,
        password=unquote(password) or os.environ.get("IMPLUS_REDIS_PASSWORD") or None,
        sentinel_username=query.get("sentinel_username") or None,
        sentinel_password=query.get("sentinel_password")
        or os.environ.get("IMPLUS_REDIS_SENTINEL_PASSWORD")
        or None,
        ssl=scheme == "rediss+sentinel",
        socket_timeout=_seconds(query, "socket_timeout", 3.0, url),
        socket_connect_timeout=_seconds(query, "socket_connect_timeout", 1.0, url),
        min_other_sentinels=int(_number(query.get("min_other_sentinels", "0"), "n", url)),
        durability=_durability(query, default_replicas=1),
    )


def durability_from_url(url: str) -> Durability | None:
    """How acknowledgements wait for replicas with this URL (None: they do not)."""
    return parse(url).durability


def redis_from_url(
    url: str,
    *,
    asyncio: bool = False,
    decode_responses: bool = True,
    blocking_pool: int | None = None,
    pool_timeout: float = 20,
    **kwargs: Any,
) -> Any:
    """A redis-py client (``redis.asyncio`` with ``asyncio``) for the URL.

    ``blocking_pool=N``: at most N connections, and a caller waits up to ``pool_timeout``
    seconds for a free one (redis-py's default pool raises "Too many connections" instead).
    Other keyword arguments go to the connections (``health_check_interval`` is 30 unless
    given)."""
    target = parse(url)
    kwargs.setdefault("health_check_interval", 30)
    kwargs["decode_responses"] = decode_responses
    if blocking_pool is not None:
        kwargs.update(max_connections=blocking_pool, timeout=pool_timeout)
    if target.is_cluster:
        kwargs.setdefault("socket_timeout", target.socket_timeout)
        kwargs.setdefault("socket_connect_timeout", target.socket_connect_timeout)
        return cluster.cluster_client(
            target.cluster_nodes,
            asyncio=asyncio,
            blocking_pool=blocking_pool,
            username=target.username,
            password=target.password,
            ssl=target.ssl,
            **kwargs,
        )
    if not target.is_sentinel:
        lib: Any = redis.asyncio if asyncio else redis
        pool_class = lib.BlockingConnectionPool if blocking_pool else lib.ConnectionPool
        return lib.Redis.from_pool(pool_class.from_url(target.url, **kwargs))
    kwargs.setdefault("socket_timeout", target.socket_timeout)
    kwargs.setdefault("socket_connect_timeout", target.socket_connect_timeout)
    sentinel_kwargs: dict[str, Any] = {
        "socket_timeout": min(target.socket_timeout, 1.0),
        "socket_connect_timeout": min(target.socket_connect_timeout, 1.0),
        "username": target.sentinel_username,
        "password": target.sentinel_password,
        "ssl": target.ssl,
        "decode_responses": True,
    }
    connection = {
        "db": target.db,
        "username": target.username,
        "password": target.password,
        "ssl": target.ssl,
        "redis_connect_func": _verify_master_async if asyncio else _verify_master,
        **kwargs,
    }
    if asyncio:
        manager: Any = redis.asyncio.sentinel.Sentinel(
            target.sentinels,
            min_other_sentinels=target.min_other_sentinels,
            sentinel_kwargs=sentinel_kwargs,
        )
        pool_cls: Any = _AsyncBlockingPool if blocking_pool else _AsyncPool
        return manager.master_for(
            target.master_name,
            redis_class=redis.asyncio.Redis,
            connection_pool_class=pool_cls,
            **connection,
        )
    sync_manager = redis.sentinel.Sentinel(
        target.sentinels,
        min_other_sentinels=target.min_other_sentinels,
        sentinel_kwargs=sentinel_kwargs,
    )
    return sync_manager.master_for(
        target.master_name,
        redis_class=redis.Redis,
        connection_pool_class=_BlockingPool if blocking_pool else _Pool,
        **connection,
    )


def is_failover_error(error: BaseException) -> bool:
    """True for what a master going away or changing looks like to a client: the link
    lost or refused, a timeout, READONLY (talking to a demoted master), "no master found",
    a node that is no longer the master, NOREPLICAS (a master cut off from its replicas),
    a blocking read unblocked by a role change (redis-py raises these as ConnectionError
    on Sentinel connections); on a Redis Cluster also a slot that is moving or not served
    while a replica takes over (MOVED, ASK, TRYAGAIN, CLUSTERDOWN, no node for the slot).
    The caller should retry after a short pause."""
    if isinstance(
        error,
        redis.exceptions.ConnectionError
        | redis.exceptions.TimeoutError
        | redis.exceptions.ReadOnlyError
        | redis.exceptions.ClusterError  # a cluster client gave up following redirections
        | redis.exceptions.RedisClusterException  # no node serves the slot (yet)
        | redis.exceptions.AskError  # MOVED too: the slot moved
        | redis.exceptions.TryAgainError,
    ):
        return True
    if isinstance(error, redis.exceptions.ResponseError):
        text = str(error)
        return text.startswith(
            ("READONLY", "NOREPLICAS", "MASTERDOWN", "UNBLOCKED", "LOADING", "CLUSTERDOWN")
        )
    return isinstance(error, OSError)


def master_identity(rds: Any) -> str:
    """``run_id`` of the server a sync client talks to: it changes when another server
    (a promoted replica) or a restarted one answers, which tells a process to resync.
    On a Redis Cluster: every master's address and ``run_id``."""
    if cluster.is_cluster(rds):
        return cluster.identity(rds)
    return str(rds.info("server")["run_id"])


async def master_identity_async(rds: Any) -> str:
    if cluster.is_cluster(rds):
        return await cluster.identity_async(rds)
    return str((await rds.info("server"))["run_id"])


# --- the master check on every new connection ------------------------------------------


def _role_of(reply: Any) -> str:
    role = reply[0] if reply else b""
    return role.decode() if isinstance(role, bytes) else str(role)


def _not_master(conn: Any, role: str) -> redis.exceptions.ConnectionError:
    return redis.exceptions.ConnectionError(
        f"{conn.host}:{conn.port} answers as {role!r}, not as the master "
        "(a failover is under way or the sentinels are behind); retrying"
    )


def _verify_master(conn: Any) -> None:
    conn.on_connect()
    conn.send_command("ROLE")
    role = _role_of(conn.read_response())
    if role != "master":
        raise _not_master(conn, role)


async def _verify_master_async(conn: Any) -> None:
    await conn.on_connect()
    await conn.send_command("ROLE")
    role = _role_of(await conn.read_response())
    if role != "master":
        raise _not_master(conn, role)


# --- pools that look for a new master by themselves ---------------------------------------


class _Following:
    """Asks the sentinels again at most once a second when a connection is taken: a moved
    master makes redis-py drop the idle connections (and those in use when returned)."""

    _next_check = 0.0

    def _due(self) -> bool:
        now = time.monotonic()
        if now < self._next_check:
            return False
        self._next_check = now + CHECK_INTERVAL_S
        return True


class _Pool(_Following, redis.sentinel.SentinelConnectionPool):
    def disconnect(self, inuse_connections: bool = True) -> None:
        super().disconnect(inuse_connections)
        if inuse_connections:  # closing the client: the links to the sentinels too
            for sentinel in self.sentinel_manager.sentinels:
                sentinel.close()

    def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        if self._due():
            # no master found: the connection attempt says so, with the sentinels' answers
            with contextlib.suppress(redis.sentinel.MasterNotFoundError):
                self.get_master_address()
        return super().get_connection(*args, **kwargs)


class _BlockingPool(_Pool, redis.BlockingConnectionPool):
    """A Sentinel pool that waits for a free connection (``blocking_pool``)."""


class _AsyncPool(_Following, redis.asyncio.sentinel.SentinelConnectionPool):
    async def disconnect(self, inuse_connections: bool = True) -> None:
        await super().disconnect(inuse_connections)
        if inuse_connections:
            for sentinel in self.sentinel_manager.sentinels:
                await sentinel.aclose()

    async def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        if self._due():
            with contextlib.suppress(redis.asyncio.sentinel.MasterNotFoundError):
                await self.get_master_address()
        return await super().get_connection(*args, **kwargs)


class _AsyncBlockingPool(_AsyncPool, redis.asyncio.BlockingConnectionPool):
    pass


# --- URL details ------------------------------------------------------------------------


def _durability(query: dict[str, str], default_replicas: int) -> Durability | None:
    replicas = int(_number(query.get("wait_replicas", str(default_replicas)), "wait_replicas"))
    timeout = int(
        _number(query.get("wait_timeout_ms", str(DEFAULT_WAIT_TIMEOUT_MS)), "wait_timeout_ms")
    )
    if replicas <= 0:
        return None
    if timeout <= 0:
        raise InvalidInput("wait_timeout_ms must be a positive number of milliseconds")
    return Durability(replicas=replicas, timeout_ms=timeout)


def _host_port(text: str, url: str, default: int = 26379) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        host, port = text, str(default)
    return host.strip("[]"), int(_number(port, "port", url))


def _number(text: str, what: str, url: str = "") -> float:
    try:
        value = float(text)
    except ValueError:
        where = f" in {_redacted(url)}" if url else ""
        raise InvalidInput(f"{what} must be a number, got {text!r}{where}") from None
    if value < 0:
        raise InvalidInput(f"{what} must not be negative, got {text!r}")
    return int(value) if value.is_integer() else value


def _seconds(query: dict[str, str], name: str, default: float, url: str) -> float:
    return float(_number(query[name], name, url)) if name in query else default


def _redacted(url: str) -> str:
    """The URL without passwords, for messages and logs."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    if "@" in parts.netloc:
        netloc = "***@" + netloc
    return parts._replace(netloc=netloc, query="").geturl()


class MasterWatch:
    """Tells a process when the Redis that answers may lack changes it has seen: after
    Redis was unreachable, or when another server answers (``run_id`` changed: a promoted
    replica, a restart). Processes that keep state next to Redis's (the PBX bridges' call
    books) reconcile then. Pure: the caller asks Redis (:func:`master_identity`)."""

    INTERVAL_S = 1.0
    """How often a process should look (a failover takes seconds)."""

    def __init__(self) -> None:
        self.known: str | None = None
        self.lost = False

    def unreachable(self) -> None:
        self.lost = True

    def answered(self, identity: str) -> bool:
        """Redis answered as ``identity``; True when the caller should resync now."""
        changed = self.lost or (self.known is not None and identity != self.known)
        self.known = identity
        self.lost = False
        return changed
