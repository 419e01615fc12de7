"""The master cut off (SIGSTOP) while the routing and acknowledgements go on, then back.

Sentinel promotes a replica; clients follow the sentinels. When the old master runs
again it still believes it is the master: `min-replicas-to-write 1` with
`min-replicas-max-lag` makes it refuse writes (NOREPLICAS), Sentinel turns it into a
replica of the new master, and whatever it took meanwhile is discarded - never
acknowledged, because an acknowledgement waits for replicas it no longer has.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import redis
from redis_ha import MAX_LAG_S, RedisHA, whole_transcript

from router.client import RouterClient
from router.errors import RouterError
from router.model import AgentProfile
from router.worker import Worker, WorkerSettings

pytestmark = [pytest.mark.redis, pytest.mark.slow]


class Acks(threading.Thread):
    """Appends messages (idempotent per cid, retried until acknowledged) and accepts every
    offer made to `agent`; records what was acknowledged."""

    def __init__(self, url: str, session: str, agent: str, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.client = RouterClient.from_url(url)
        self.session, self.agent, self.stop = session, agent, stop
        self.acked: dict[str, str] = {}
        self.accepted: set[str] = set()
        self.failures = 0
        self.times: list[float] = []

    def run(self) -> None:
        n = 0
        while not self.stop.is_set():
            cid = f"m{n}"
            try:
                done = self.client.append(self.session, {"type": "message", "text": cid}, cid)
                self.acked[cid] = done.entry_id
                self.times.append(time.monotonic())
                n += 1
                for offer in self.client.agent_offers(self.agent):
                    if self.client.accept(offer.id, self.agent):
                        self.accepted.add(offer.request_id)
            except RouterError:
                self.failures += 1
                time.sleep(0.05)
            time.sleep(0.01)
        self.client.close()


def test_master_cut_off_and_back(redis_ha: RedisHA) -> None:
    url = redis_ha.url
    router = RouterClient.from_url(url)
    router.upsert_agent(
        AgentProfile(id="ann", name="Ann", skills={"general": 1}, capacity={"chat": 500})
    )
    router.heartbeat("ann", source="desktop", ttl=3600)
    router.set_status("ann", "available")
    home = router.submit(channel="chat", service="general", user_id="home").session_id
    worker = Worker(RouterClient.from_url(url), "w1", WorkerSettings(timer_interval_ms=20))
    threads: list[Any] = [threading.Thread(target=worker.run, daemon=True)]
    stop = threading.Event()
    acks = Acks(url, home, "ann", stop)
    threads.append(acks)
    for t in threads:
        t.start()
    users = iter(range(10_000))

    def new_chats(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                router.submit(channel="chat", service="general", user_id=f"u{next(users)}")
            except RouterError:
                time.sleep(0.1)
            time.sleep(0.1)

    new_chats(2)
    old = redis_ha.master()
    stale = redis.Redis(port=old.port, socket_timeout=2, decode_responses=True)
    stale.set("stale:before", "1")  # a connection some other program keeps open
    old.pause()
    cut_at = time.monotonic()
    redis_ha.wait_failover(old.port)
    new_chats(MAX_LAG_S + 1)  # the old master's replicas are gone for longer than the lag
    acked_during = len(acks.acked)
    old.resume()
    written, refusals = [], set()
    for i in range(40):
        try:
            stale.set(f"stale:{i}", "x")
            written.append(f"stale:{i}")
        except redis.RedisError as e:
            refusals.add(str(e).split()[0])
        time.sleep(0.05)
    assert refusals <= {"NOREPLICAS", "READONLY", "You"}, refusals  # You can't write...
    # the old master refuses writes within a second of running again (NOREPLICAS)
    assert len(written) <= 2, f"the cut-off master took {written}"
    new_chats(1)
    deadline = time.monotonic() + 20
    while stale.execute_command("ROLE")[0] != "slave":
        assert time.monotonic() < deadline, f"the old master was not demoted: {redis_ha.describe()}"
        time.sleep(0.2)
    redis_ha.wait_replicated(20)
    stop.set()
    worker.stop()
    for t in threads:
        t.join(15)
    master = redis_ha.master()
    assert master.port != old.port
    # what it took meanwhile is gone with its demotion; nothing of it was acknowledged
    assert all(master.ask("EXISTS", k) == 0 for k in written)
    stale.close()

    assert len(acks.acked) > acked_during > 20, "acknowledgements stopped for good"
    entries = whole_transcript(router, home)
    for cid, entry_id in acks.acked.items():
        found = [e for e in entries if e.get("text") == cid]
        assert [e["id"] for e in found] == [entry_id], f"{cid}: {found}"
    for request_id in acks.accepted:
        request = router.request(request_id)
        assert request is not None and request.agent == "ann"
        assert request.state.value == "accepted", request
    contacts = {r.id for r in router.agent_contacts("ann")}
    assert acks.accepted <= contacts
    ann = router.agent("ann")
    assert ann is not None and ann.load.get("chat", 0) == len(contacts) + len(
        router.agent_offers("ann")
    ), ann
    gap = max(b - a for a, b in zip(acks.times, acks.times[1:], strict=False))
    assert gap < 10, f"no acknowledgement for {gap:.1f} s"
    print(
        f"cut off for {time.monotonic() - cut_at:.1f} s; longest wait for an ack {gap:.1f} s; "
        f"{len(acks.acked)} acked, "
        f"{len(acks.accepted)} accepts, {acks.failures} refused meanwhile, stale wrote {written}"
    )
    router.close()
