"""router.connect: the Redis URL every process takes, and what counts as a failover."""

from __future__ import annotations

import asyncio

import pytest
import redis
import redis.asyncio

from router.client import AsyncRouterClient, RouterClient
from router.connect import (
    MasterWatch,
    is_failover_error,
    master_identity,
    parse,
    redis_from_url,
)
from router.durable import Durability
from router.errors import InvalidInput, RouterUnavailable


def test_a_sentinel_url_names_the_sentinels_the_master_and_the_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("IMPLUS_REDIS_PASSWORD", raising=False)
    t = parse(
        "redis+sentinel://:s3cret@10.0.0.1:26379,10.0.0.2:26380,[::1]:26381/implus/2"
        "?sentinel_password=watch&socket_timeout=0.5&wait_timeout_ms=250&min_other_sentinels=1"
    )
    assert t.sentinels == (("10.0.0.1", 26379), ("10.0.0.2", 26380), ("::1", 26381))
    assert (t.master_name, t.db, t.password, t.sentinel_password) == (
        "implus",
        2,
        "s3cret",
        "watch",
    )
    assert (t.socket_timeout, t.min_other_sentinels, t.ssl) == (0.5, 1, False)
    assert t.durability == Durability(replicas=1, timeout_ms=250)  # on by default
    assert "s3cret" not in repr(t) and "watch" not in repr(t)
    assert parse("rediss+sentinel://h:1/m").ssl
    assert parse("redis+sentinel://h:1/m?wait_replicas=0").durability is None
    assert parse("redis+sentinel://h/m").sentinels == (("h", 26379),)


def test_passwords_may_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMPLUS_REDIS_PASSWORD", "from-env")
    monkeypatch.setenv("IMPLUS_REDIS_SENTINEL_PASSWORD", "sentinels-env")
    t = parse("redis+sentinel://h:1,h:2/implus")
    assert (t.password, t.sentinel_password) == ("from-env", "sentinels-env")
    assert parse("redis+sentinel://:inline@h:1/implus").password == "inline"


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("notaurl", "redis://127.0.0.1:6379/0"),
        ("http://example.com", "redis+sentinel://"),
        ("redis+sentinel://h:1", "must name the master"),
        ("redis+sentinel://h:1/a/b/c", "must name the master"),
        ("redis+sentinel:///implus", "no sentinel address"),
        ("redis+sentinel://h:port/implus", "port must be a number"),
        ("redis+sentinel://h:1/implus/x", "db must be a number"),
        ("redis+sentinel://h:1/implus?sentinel_pasword=x", "unknown setting(s) sentinel_pasword"),
        ("redis+sentinel://h:1/implus?wait_timeout_ms=0", "positive"),
        ("redis://h:1/0?wait_replicas=-1", "must not be negative"),
    ],
)
def test_a_bad_url_says_what_is_wrong(url: str, says: str) -> None:
    with pytest.raises(InvalidInput) as e:
        parse(url)
    assert says in str(e.value)


def test_a_cluster_url_names_seed_nodes_and_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IMPLUS_REDIS_PASSWORD", raising=False)
    t = parse(
        "redis+cluster://app:pw@10.0.0.1:7000,10.0.0.2,[::1]:7002/"
        "?socket_timeout=2&wait_timeout_ms=300"
    )
    assert t.is_cluster and not t.is_sentinel
    assert t.cluster_nodes == (("10.0.0.1", 7000), ("10.0.0.2", 6379), ("::1", 7002))
    assert (t.username, t.password, t.socket_timeout) == ("app", "pw", 2.0)
    assert t.durability == Durability(replicas=1, timeout_ms=300)  # on by default
    assert "pw" not in repr(t)
    assert parse("rediss+cluster://h:1").ssl
    assert parse("redis+cluster://h:1/0?wait_replicas=0").durability is None
    monkeypatch.setenv("IMPLUS_REDIS_PASSWORD", "from-env")
    assert parse("redis+cluster://h:1").password == "from-env"


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("redis+cluster:///", "no node address"),
        ("redis+cluster://h:1/2", "only database 0"),
        ("redis+cluster://h:1/?master=x", "unknown setting(s) master"),
        ("redis+cluster://h:x/", "port must be a number"),
        ("redis+clusterr://h:1/", "redis+cluster://host:port"),
    ],
)
def test_a_bad_cluster_url_says_what_is_wrong(url: str, says: str) -> None:
    with pytest.raises(InvalidInput) as e:
        parse(url)
    assert says in str(e.value)


def test_cluster_refusals_read_as_failovers() -> None:
    assert is_failover_error(redis.exceptions.MovedError("12 127.0.0.1:7001"))
    assert is_failover_error(redis.exceptions.AskError("12 127.0.0.1:7001"))
    assert is_failover_error(redis.exceptions.TryAgainError("TRYAGAIN"))
    assert is_failover_error(redis.exceptions.ClusterDownError("CLUSTERDOWN The cluster is down"))
    assert is_failover_error(redis.exceptions.SlotNotCoveredError("Slot 1 is not covered"))
    assert not is_failover_error(redis.exceptions.ResponseError("CROSSSLOT Keys..."))


def test_an_error_never_shows_the_password() -> None:
    with pytest.raises(InvalidInput) as e:
        parse("redis+sentinel://:hunter2@h:1/implus?bogus=1")
    assert "hunter2" not in str(e.value) and "***@h:1" not in str(e.value)
    with pytest.raises(InvalidInput) as e:
        parse("redis+sentinel://:hunter2@h:x/implus")
    assert "hunter2" not in str(e.value)


def test_a_plain_url_goes_to_redis_py_without_our_settings() -> None:
    t = parse("redis://:pw@127.0.0.1:6379/3?wait_replicas=2&socket_timeout=4")
    assert t.url == "redis://:pw@127.0.0.1:6379/3?socket_timeout=4"
    assert t.durability == Durability(replicas=2, timeout_ms=500)
    assert parse("redis://127.0.0.1/0").durability is None  # no WAIT unless asked
    assert parse("unix:///run/redis.sock?db=1").url == "unix:///run/redis.sock?db=1"


def test_plain_clients_sync_async_and_bounded(redis_url: str) -> None:
    rds = redis_from_url(redis_url)
    assert rds.ping() and isinstance(rds, redis.Redis)
    rds.set("k", "v")
    assert rds.get("k") == "v"  # decoded by default
    assert redis_from_url(redis_url, decode_responses=False).get("k") == b"v"
    bounded = redis_from_url(redis_url, blocking_pool=3)
    assert isinstance(bounded.connection_pool, redis.BlockingConnectionPool)
    assert bounded.connection_pool.max_connections == 3
    assert master_identity(rds) == master_identity(bounded)

    async def run() -> str:
        a = redis_from_url(redis_url, asyncio=True, blocking_pool=2)
        assert isinstance(a, redis.asyncio.Redis)
        value = await a.get("k")
        await a.aclose()
        return str(value)

    assert asyncio.run(run()) == "v"
    for client in (rds, bounded):
        client.close()


def test_router_clients_take_any_url(redis_url: str) -> None:
    client = RouterClient.from_url(redis_url)
    assert client.confirmer is None  # one Redis without replicas: nothing to wait for
    assert client.submit(channel="chat", service="s", user_id="u").session_id
    client.close()
    asynchronous = AsyncRouterClient.from_url(redis_url + "?wait_replicas=1")
    assert asynchronous.confirmer is not None
    assert asynchronous.confirmer.durability.replicas == 1
    with pytest.raises(InvalidInput):
        RouterClient.from_url("redis+sentinel://nohost")


def test_no_sentinel_answering_reads_as_router_unavailable() -> None:
    # 127.0.0.1:9 (discard) refuses at once: nobody to ask where the master is
    client = RouterClient.from_url("redis+sentinel://127.0.0.1:9/implus?socket_timeout=0.5")
    with pytest.raises(RouterUnavailable) as e:
        client.agents()
    assert "No master found for 'implus'" in str(e.value) and "failover" in str(e.value)
    client.close()


def test_what_a_failover_looks_like() -> None:
    failover = [
        redis.ConnectionError("Connection closed by server."),
        redis.TimeoutError("Timeout reading from 10.0.0.1:6379"),
        redis.exceptions.ReadOnlyError("You can't write against a read only replica."),
        redis.ResponseError("NOREPLICAS Not enough good replicas to write."),
        redis.ResponseError("UNBLOCKED force unblock from blocking operation"),
        redis.ResponseError("LOADING Redis is loading the dataset in memory"),
        ConnectionRefusedError(111, "refused"),
    ]
    assert all(is_failover_error(e) for e in failover)
    others = [redis.ResponseError("NOGROUP No such key"), redis.ResponseError("ERR syntax")]
    assert not any(is_failover_error(e) for e in others)


def test_the_master_watch_asks_for_a_resync_after_a_change_or_an_outage() -> None:
    watch = MasterWatch()
    assert not watch.answered("run-a")  # the first look
    assert not watch.answered("run-a")
    assert watch.answered("run-b")  # another server: a promoted replica, a restart
    watch.unreachable()
    assert watch.answered("run-b")  # the same one, but it was away
    assert not watch.answered("run-b")
