"""implus on a real Redis Cluster (3 masters + 3 replicas on loopback): two domains on
different masters route and chat at once; a domain's slot moved to another master under
load; the domain's master killed (SIGKILL) and its replica taking over. Nothing
acknowledged may be lost (docs/scaling.md, "Redis Cluster")."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from typing import Any

import pytest
from domain_load import DomainLoad
from redis_cluster import IMPLUS, RedisCluster, domain_slot, read_on_replica

from router.client import RouterClient
from router.cluster import move_slot

pytestmark = [pytest.mark.redis, pytest.mark.slow]


def keys_on(node: Any, domain: str) -> int:
    """How many keys of ``domain`` the node holds (its slot's keys)."""
    return int(node.ask("CLUSTER", "COUNTKEYSINSLOT", domain_slot(domain)))


def two_domains(cluster: RedisCluster) -> tuple[str, str]:
    first = "north"
    return first, cluster.other_master_slot_domain([first], prefix="south")


def test_two_domains_on_two_masters_route_and_chat_at_once(
    redis_cluster: RedisCluster, router_workers: Callable[..., Any]
) -> None:
    cluster = redis_cluster
    a, b = two_domains(cluster)
    master_a, master_b = (cluster.slot_owner(domain_slot(d)) for d in (a, b))
    assert master_a is not master_b
    loads = [DomainLoad(cluster.url, d, agents=3, every=0.1) for d in (a, b)]
    for load in loads:
        load.setup()
    workers = router_workers(a, b)  # one `implus router` serving both domains
    for load in loads:
        load.start()
    time.sleep(6)
    for load in loads:
        load.finish()
    assert workers.poll() is None, "the router workers died"
    figures = [load.check() for load in loads]
    for f in figures:
        assert f["accepted"] >= 10 and f["acked"] >= 20, figures
    # each domain's work landed on its own master (and its replica), nowhere else
    replica_a = cluster.replicas_of(master_a)[0]
    assert keys_on(master_a, a) > 50 and keys_on(master_b, b) > 50
    assert keys_on(master_a, b) == 0 and keys_on(master_b, a) == 0
    assert keys_on(replica_a, a) == keys_on(master_a, a)
    # an acknowledgement is confirmed by the replica of the domain's own master
    client = loads[0].client
    session = client.submit(channel="chat", service="s", user_id="late").session_id
    done = client.append(session, {"type": "message", "text": "late"}, cmid="late")
    assert client.confirmer is not None and client.confirmer.online == 1
    assert client.confirmer.address == f"127.0.0.1:{master_a.port}"
    key = client.keys.transcript(session)
    assert read_on_replica(replica_a, "XRANGE", key, done.entry_id, done.entry_id)


def test_a_busy_domains_slot_moves_to_another_master(
    redis_cluster: RedisCluster, router_workers: Callable[..., Any]
) -> None:
    cluster = redis_cluster
    domain = "moving"
    slot = domain_slot(domain)
    load = DomainLoad(cluster.url, domain, agents=3, every=0.05)
    load.setup()
    workers = router_workers(domain, workers=2)
    load.start()
    time.sleep(4)
    source = cluster.slot_owner(slot)
    target = next(p for p in cluster.primaries() if p is not source)
    before = len(load.seen.acked)
    # what an operator runs: `implus router move-domain`
    out = subprocess.run(
        [IMPLUS, "router", "--redis-url", cluster.url, "--domain", domain, "move-domain",
         "--to", f"127.0.0.1:{target.port}"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    moved = int(out.split(": ", 1)[1].split()[0])
    assert moved > 50, out
    assert cluster.slot_owner(slot) is target
    assert keys_on(source, domain) == 0
    time.sleep(4)
    assert len(load.seen.acked) > before + 20, "the load stopped after the move"
    # and back again, while busy
    admin = RouterClient.from_url(cluster.url, domain)
    assert move_slot(admin.redis, slot, f"127.0.0.1:{source.port}") > moved
    assert cluster.slot_owner(slot) is source
    time.sleep(3)
    load.finish()
    assert workers.poll() is None, "the router workers died"
    figures = load.check()
    assert figures["accepted"] >= 20, figures
    assert keys_on(target, domain) == 0


def test_the_domains_master_killed_its_replica_takes_over(
    redis_cluster: RedisCluster, router_workers: Callable[..., Any]
) -> None:
    cluster = redis_cluster
    a, b = two_domains(cluster)
    loads = {d: DomainLoad(cluster.url, d, agents=3, every=0.1) for d in (a, b)}
    for load in loads.values():
        load.setup()
    workers = router_workers(a, b)
    for load in loads.values():
        load.start()
    time.sleep(4)
    old = cluster.slot_owner(domain_slot(a))
    other_before = len(loads[b].seen.acked)
    acked_before = len(loads[a].seen.acked)
    killed_at = time.monotonic()
    cluster.kill(old)
    new = cluster.wait_failover(domain_slot(a), old)
    failover_s = time.monotonic() - killed_at
    # its supervisor restarts the killed node: it comes back as the new master's replica,
    # which acknowledgements (and min-replicas-to-write) wait for
    old.start()
    cluster.wait_replicated(30)
    # the other domain, on another master, was not held up
    assert len(loads[b].seen.acked) > other_before
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and len(loads[a].seen.acked) < acked_before + 20:
        time.sleep(0.2)
    resumed_s = time.monotonic() - killed_at
    assert len(loads[a].seen.acked) >= acked_before + 20, "routing did not resume"
    for load in loads.values():
        load.finish(drain_s=45)
    assert workers.poll() is None, "the router workers died"
    figures = {d: load.check() for d, load in loads.items()}
    assert new.ask("ROLE")[0] == "master"
    assert figures[a]["unavailable"] > 0, "the kill went unnoticed: not a real failover?"
    print(f"failover {failover_s:.1f} s, load resumed {resumed_s:.1f} s after the kill")
