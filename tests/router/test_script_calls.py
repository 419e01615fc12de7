"""What a request's life asks of Redis inside its scripts, now that it asks less: the
caller's clock digits are stored as sent (no number formatted by Redis), a goal timer is
removed only when one can exist, and `complete` reads its two settings in one HMGET -
with the same state as before."""

from __future__ import annotations

from router.model import RequestState

STRATEGY = """
defaults: {queue: general, offer_timeout: 20, wrapup: {voice: 5, chat: 0}}
queues: {general: {}, booking: {skills: {booking: 1}}}
rules:
  - name: booking
    conditions: service == "booking"
    actions: {queue: booking, skills: {booking: 2}}
    goals: [{after: 60, skills: {booking: 1}}]
  - {name: rest, actions: {queue: general}}
"""


def calls(router, command):
    stats = router.client.redis.info("commandstats")
    return stats.get(f"cmdstat_{command}", {}).get("calls", 0)


def test_times_are_stored_as_the_callers_clock_digits(router):
    c = router.client
    c.load_strategy(STRATEGY)
    router.agent("alice", chat=1)
    sub = c.submit("chat", "general", "u1")
    now = str(router.clock.now)
    rk = c.keys.request(sub.request_id)
    sk = c.keys.session(sub.session_id)
    assert c.redis.hmget(rk, "created", "score", "attempts") == [now, now, "0"]
    assert c.redis.hmget(sk, "created", "activity") == [now, now]
    router.drain()
    req = c.request(sub.request_id)
    assert req.state is RequestState.OFFERED
    assert c.redis.hget(c.keys.agent("alice"), "last_offer") == now
    assert c.redis.hget(c.keys.offer(req.offer), "created") == now
    router.clock.advance(2)
    assert c.accept(req.offer, "alice")
    later = str(router.clock.now)
    assert c.redis.hget(sk, "activity") == later
    assert c.redis.hget(rk, "accepted_at") == later
    assert c.complete(sub.request_id, "done")
    assert c.redis.hget(rk, "ended_at") == later
    assert c.redis.hget(c.keys.agent("alice"), "idle_since") == later
    events = c.redis.xrange(c.keys.events())
    assert {f["at"] for _i, f in events if f.get("request") == sub.request_id} <= {now, later}


def test_a_request_offered_at_its_first_look_removes_no_goal_timer(router):
    c = router.client
    c.load_strategy(STRATEGY)
    router.agent("alice", chat=1)
    sub = c.submit("chat", "general", "u1")
    before = calls(router, "zrem")
    router.drain()
    assert c.request(sub.request_id).state is RequestState.OFFERED
    assert calls(router, "zrem") == before  # never queued: no goal timer, no ZREM for one


def test_the_goal_timer_of_a_waiting_request_goes_when_it_is_offered(router):
    c = router.client
    c.load_strategy(STRATEGY)
    router.agent("junior", chat=1, skills={"booking": 1})
    sub = c.submit("chat", "booking", "u1")
    router.drain()
    assert c.request(sub.request_id).state is RequestState.QUEUED
    goal = f"goal:{sub.request_id}"
    assert c.redis.zscore(c.keys.timers(), goal) is not None
    c.set_status("junior", "away")
    router.agent("senior", chat=1, skills={"booking": 2})
    router.drain()
    req = c.request(sub.request_id)
    assert req.state is RequestState.OFFERED and req.agent == "senior"
    assert c.redis.zscore(c.keys.timers(), goal) is None


def test_complete_applies_the_wrapup_and_history_settings_it_reads_at_once(router):
    c = router.client
    c.load_strategy(STRATEGY)
    router.agent("alice", voice=1, pbx="ast1", endpoint="1001")
    sub = c.submit("voice", "general", "u1", pbx="ast1", call_id="c1")
    router.drain()
    req = c.request(sub.request_id)
    assert c.accept(req.offer, "alice")
    before = calls(router, "hget")
    assert c.complete(sub.request_id, "done")
    assert calls(router, "hget") == before  # the settings came in one HMGET
    assert c.agent("alice").wrapup_until == router.clock.now + 5000
    ttl = c.ops.history_ttl_s  # the client's, stored with the strategy
    assert ttl - 60 < c.redis.ttl(c.keys.request(sub.request_id)) <= ttl
