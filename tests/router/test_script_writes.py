"""What the lifecycle scripts write, now that they write less: a freed agent wakes a worker
only when a request waits, an accept leaves the agent's live state alone unless it counted
missed offers, and a released slot is one read and one write whose agent.state event
matches the agent hash."""

from __future__ import annotations

from router.keys import WORK_GROUP
from router.model import RequestState

STRATEGY = """
defaults: {queue: general, offer_timeout: 20, reject_delay: 10, max_no_answer: 3,
           wrapup: {voice: 5, chat: 0}}
queues: {general: {}}
rules: [{name: rest, actions: {queue: general}}]
"""

DYNAMIC = (
    "status", "reason", "busy", "idle_since", "wrapup_until", "no_answer", "last_offer", "v",
    "load:voice", "load:chat", "lease:desktop", "lease:sip", "dev:sip",
)  # fmt: skip
"""prelude.lua DYNAMIC: the fields of an agent.state event."""


def work_items(router, since="0-0"):
    rows = router.client.redis.xrange(router.client.keys.work(), f"({since}", "+")
    return [(f["kind"], f["id"]) for _i, f in rows]


def last_work_id(router):
    rows = router.client.redis.xrevrange(router.client.keys.work(), count=1)
    return rows[0][0] if rows else "0-0"


def feed_states(router, aid):
    rows = router.client.redis.xrange(router.client.keys.agent_feed(), "-", "+")
    return [f for _i, f in rows if f.get("type") == "agent.state" and f["agent"] == aid]


def offered(router, rid):
    req = router.client.request(rid)
    assert req.state is RequestState.OFFERED, req.state
    return req


def test_a_freed_agent_wakes_a_worker_only_when_a_request_waits(router):
    c = router.client
    c.load_strategy(STRATEGY)
    router.agent("alice", chat=1)
    first = c.submit("chat", "general", "u1")
    router.drain()
    assert c.accept(offered(router, first.request_id).offer, "alice")
    mark = last_work_id(router)
    assert c.complete(first.request_id, "done")
    assert work_items(router, mark) == []  # nothing waits: no worker round for alice
    assert c.agent("alice").load == {"chat": 0}

    # now a request waits in its queue while alice's one chat slot is taken
    second = c.submit("chat", "general", "u2")
    router.drain()
    assert c.accept(offered(router, second.request_id).offer, "alice")
    third = c.submit("chat", "general", "u3")
    router.drain()
    assert c.request(third.request_id).state is RequestState.QUEUED
    mark = last_work_id(router)
    assert c.complete(second.request_id, "done")
    assert work_items(router, mark) == [("agent", "alice")]
    router.drain()
    assert offered(router, third.request_id).agent == "alice"


def test_a_request_pinned_to_the_freed_agent_wakes_a_worker(router):
    c = router.client
    c.load_strategy(STRATEGY.replace("max_no_answer: 3", "max_no_answer: 3, known_agent_wait: 30"))
    router.agent("alice", chat=1)
    router.agent("bob", chat=1, available=False)
    first = c.submit("chat", "general", "carol")
    router.drain()
    assert c.accept(offered(router, first.request_id).offer, "alice")
    again = c.submit("chat", "general", "carol")  # carol's agent is busy: it waits pinned
    router.drain()
    assert c.redis.zscore(c.keys.pinned("alice"), again.request_id) is not None
    assert c.redis.smembers(c.keys.queues()) == {"general"}
    c.redis.delete(c.keys.queue("general", "chat"))  # only the pinned list holds it now
    mark = last_work_id(router)
    assert c.complete(first.request_id, "done")
    assert work_items(router, mark) == [("agent", "alice")]


def test_an_agent_freed_while_a_request_is_decided_is_not_missed(router):
    """The agent's contact ends after the worker decided a request must wait and before it
    queued it: no work item (nothing waited yet), yet the request is offered to the agent
    (the worker sees the agent free in the feed once the request is queued)."""
    c = router.client
    c.load_strategy(STRATEGY)
    router.agent("alice", chat=1)
    first = c.submit("chat", "general", "u1")
    router.drain()
    assert c.accept(offered(router, first.request_id).offer, "alice")
    allocator = router.worker.allocator
    carry_out = allocator._carry_out
    marks = []

    def freed_in_between(decisions, now, *args, **kwargs):
        if not marks:
            assert [d.outcome for d in decisions] == ["wait"]
            marks.append(last_work_id(router))
            assert c.complete(first.request_id, "done")
            assert work_items(router, marks[0]) == []
        return carry_out(decisions, now, *args, **kwargs)

    allocator._carry_out = freed_in_between
    waiting = c.submit("chat", "general", "u2")
    router.drain()
    assert marks, "the window between decision and queueing was not reached"
    assert offered(router, waiting.request_id).agent == "alice"


def test_an_accept_leaves_the_agent_alone_unless_it_ends_missed_offers(router):
    c = router.client
    c.load_strategy(STRATEGY)
    router.agent("alice", chat=2)
    first = c.submit("chat", "general", "u1")
    router.drain()
    before = c.redis.hgetall(c.keys.agent("alice"))
    states = len(feed_states(router, "alice"))
    assert c.accept(offered(router, first.request_id).offer, "alice")
    assert c.redis.hgetall(c.keys.agent("alice")) == before
    assert len(feed_states(router, "alice")) == states

    # a missed offer (timeout) is counted; the next accept resets it, bumps the version and
    # tells the workers
    c.submit("chat", "general", "u2")  # offered to alice, who misses it
    router.drain()
    router.clock.advance(21)
    router.drain()
    assert c.redis.hget(c.keys.agent("alice"), "no_answer") == "1"
    third = c.submit("chat", "general", "u3")  # the second waits out alice's reject delay
    router.drain()
    v = int(c.redis.hget(c.keys.agent("alice"), "v"))
    assert c.accept(offered(router, third.request_id).offer, "alice")
    agent = c.redis.hgetall(c.keys.agent("alice"))
    assert agent["no_answer"] == "0" and int(agent["v"]) == v + 1
    assert feed_states(router, "alice")[-1]["no_answer"] == "0"


def test_a_released_slot_is_published_as_the_agent_hash_holds_it(router):
    c = router.client
    c.load_strategy(STRATEGY)
    router.agent("alice", chat=2, voice=1)

    def check(busy, idle_since=None):
        agent = c.redis.hgetall(c.keys.agent("alice"))
        event = feed_states(router, "alice")[-1]
        assert {k: v for k, v in event.items() if k not in ("type", "agent")} == {
            k: agent[k] for k in DYNAMIC if k in agent
        }
        assert agent["busy"] == str(busy)
        if idle_since is not None:
            assert agent["idle_since"] == str(idle_since)
        return agent

    chats = [c.submit("chat", "general", f"u{i}") for i in range(2)]
    router.drain()
    for s in chats:
        assert c.accept(offered(router, s.request_id).offer, "alice")
    v = int(c.redis.hget(c.keys.agent("alice"), "v"))
    router.clock.advance(1)
    assert c.complete(chats[0].request_id, "done")
    agent = check(busy=1)
    assert agent["load:chat"] == "1" and int(agent["v"]) == v + 1
    router.clock.advance(1)
    assert c.complete(chats[1].request_id, "done")
    agent = check(busy=0, idle_since=router.clock.now)
    assert agent["load:chat"] == "0" and int(agent["v"]) == v + 2

    # a call: its end starts the voice wrap-up (a timer), and a rejected offer frees its slot
    call = c.submit("voice", "general", "u9")
    router.drain()
    assert c.reject(offered(router, call.request_id).offer, "alice")
    check(busy=0)
    assert c.agent("alice").load == {"chat": 0, "voice": 0}
    router.clock.advance(11)  # past the reject delay: offered to alice again
    router.drain()
    assert c.accept(offered(router, call.request_id).offer, "alice")
    assert c.complete(call.request_id, "done")
    agent = check(busy=0, idle_since=router.clock.now)
    assert agent["wrapup_until"] == str(router.clock.now + 5000)
    assert c.redis.zscore(c.keys.timers(), "wrapup:alice") == router.clock.now + 5000
    assert c.redis.hget(c.keys.request(call.request_id), "attempts") == "2"


def test_the_work_group_sees_no_item_for_a_contact_with_nothing_waiting(router):
    """The latency benchmark's steady state (agents free, nothing queued): a request's
    life files exactly one work item, the request's own."""
    c = router.client
    c.load_strategy(STRATEGY)
    router.agent("alice", chat=1)
    router.drain()
    mark = last_work_id(router)
    sub = c.submit("chat", "general", "u1")
    router.drain()
    assert c.accept(offered(router, sub.request_id).offer, "alice")
    assert c.complete(sub.request_id, "done")
    router.drain()
    assert work_items(router, mark) == [("request", sub.request_id)]
    group = next(g for g in c.redis.xinfo_groups(c.keys.work()) if g["name"] == WORK_GROUP)
    assert group["pending"] == 0


def test_each_script_carries_only_the_prelude_it_uses(rds):
    from importlib.resources import files

    from router import scripts

    prelude = (files("router") / "lua" / "prelude.lua").read_text()
    accept = scripts.source("accept")
    assert "local function emit_agent(" in accept and "local function transcript(" in accept
    assert "local function feed(" in accept  # used through emit_agent
    assert (
        "local function cmd_supervise(" not in accept and "local function end_offer(" not in accept
    )
    for name in scripts.NAMES:
        source = scripts.source(name)
        # blank lines stand in for what is left out: error line numbers stay the file's
        assert source.count("\n") == 1 + scripts.expand_keys(
            prelude + "\n" + scripts.body(name)
        ).count("\n")
        rds.script_load(source)  # compiles
    # release runs end_offer, which needs free_slot, live_fields, cmd_cancel_ring, ...
    release = scripts.source("release")
    for local in (
        "end_offer",
        "free_slot",
        "live_fields",
        "cmd_cancel_ring",
        "pbx_command",
        "set_status",
    ):
        assert f"local function {local}(" in release, local
