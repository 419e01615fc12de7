"""The real chat service (`implus chat`) on a Redis Cluster: one chat process per domain,
two domains on two masters, customers and agents on websockets, allocation workers of
both domains in one `implus router`. Every acknowledged message (the customer's ✓) is in
its transcript once, every session a desktop accepted is with that agent, and the chat
keys (logins, sessions, receipts) are on the domain's own master."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from redis_cluster import RedisCluster, domain_slot

HERE = Path(__file__).resolve().parent
for folder in (HERE.parent / "chat", HERE.parent / "ha"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from argon2 import PasswordHasher  # noqa: E402
from chattest import STACK_ENV, ChatProcess, api, chat_env, free_port, staff_login  # noqa: E402
from load import Agent, Customer, Record  # noqa: E402
from redis_ha import whole_transcript  # noqa: E402

from chat.accounts import AccountStore  # noqa: E402
from chat.keys import ChatKeys  # noqa: E402
from router.client import RouterClient  # noqa: E402
from router.connect import redis_from_url  # noqa: E402

pytestmark = [pytest.mark.redis, pytest.mark.slow]


def test_two_chat_services_on_two_domains_of_a_cluster(
    redis_cluster: RedisCluster, router_workers: Callable[..., Any], tmp_path: Path
) -> None:
    cluster = redis_cluster
    url = cluster.url
    domains = ["east", cluster.other_master_slot_domain(["east"], prefix="west")]
    router_workers(*domains)
    record, stop = Record(), threading.Event()
    threads: list[Any] = []
    chats: list[ChatProcess] = []
    hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    try:
        for d in domains:
            env = chat_env(url, tmp_path / f"uploads-{d}", IMPLUS_CHAT_DOMAIN=d, **STACK_ENV)
            chat = ChatProcess(port=free_port(), env=env, log=tmp_path / f"chat-{d}.log")
            chat.start()
            chats.append(chat)
            accounts = AccountStore(redis_from_url(url, decode_responses=False), ChatKeys(d),
                                    hasher)  # fmt: skip
            admin = staff_login(accounts, "admin", f"root-{d}")
            for agent in (f"{d}-cara", f"{d}-dave"):
                status, body = api(chat, "PUT", f"/api/agents/{agent}",
                                   {"name": agent, "capacity": {"voice": 0, "chat": 100}},
                                   bearer=admin)  # fmt: skip
                assert status in (200, 201), body
                desk = Agent(chat.ws_url, staff_login(accounts, "agent", agent), agent, record,
                             stop)  # fmt: skip
                desk.start()
                assert desk.welcomed.wait(15)
                threads.append(desk)
            for i in range(3):
                status, body = api(chat, "POST", "/api/customer-tokens",
                                   {"user_id": f"{d}-u{i}", "services": []},
                                   bearer=admin)  # fmt: skip
                assert status == 201, body
                customer = Customer(chat.ws_url, body["token"], f"{d}-u{i}", record, stop,
                                    service="webchat")  # fmt: skip
                customer.start()
                threads.append(customer)
        time.sleep(8)
        stop.set()
        for t in threads:
            t.join(10)
        with record.lock:
            acked = dict(record.acked)
            accepted = dict(record.accepted)
        assert len(acked) >= 30, f"only {len(acked)} messages acknowledged"
        for d in domains:
            router = RouterClient.from_url(url, d)
            mine = {cid: v for cid, v in acked.items() if v[2].startswith(f"{d}-")}
            assert mine, f"no acknowledged message in domain {d}"
            sessions = {s for _e, s, _u in mine.values()}
            entries = {s: whole_transcript(router, s) for s in sessions}
            for cid, (entry_id, session, _user) in mine.items():
                found = [e["id"] for e in entries[session] if e.get("text") == f"text of {cid}"]
                assert found == [entry_id], f"{d}: acknowledged {cid} found as {found}"
            taken = {s: a for s, a in accepted.items() if s in sessions}
            assert taken, f"no session of {d} was accepted by an agent"
            for session, agent in taken.items():
                held = [r.agent for r in router.session_requests(session) if r.agent]
                assert set(held) <= {agent}, f"{session} accepted by {agent}, held by {held}"
            master = cluster.slot_owner(domain_slot(d))
            for other in cluster.primaries():
                count = int(other.ask("CLUSTER", "COUNTKEYSINSLOT", domain_slot(d)))
                assert (count > 0) == (other is master), f"{d}'s keys on {other.name}: {count}"
            router.close()
    finally:
        stop.set()
        for chat in chats:
            chat.stop()
