"""Work items that carry their request: ``submit`` files the request's fields with its
work item, so the worker decides without reading the request; items without them (older
versions, goal steps, moves) and items taken over from a silent worker are read."""

from __future__ import annotations

from router_harness import Router

from router.keys import WORK_GROUP
from router.model import RequestState, RoutingRequest
from router.supervision import Supervision
from router.worker.loop import carried_request

SALES = """
defaults: {queue: general}
queues: {general: {}, sales: {skills: {sales: 1}}}
rules:
  - {name: sales, conditions: service == "sales", actions: {queue: sales}}
  - {name: rest, actions: {queue: general}}
"""


def _items(r: Router) -> list[tuple[str, dict[str, str]]]:
    return r.client.redis.xrange(r.client.keys.work())


def test_submit_files_the_request_fields_with_its_work_item(router: Router) -> None:
    c = router.client
    sub = c.submit("chat", "sales", "u1", customer={"vip": 2}, priority=3, max_wait=40)
    (entry_id, fields) = _items(router)[-1]
    carried = carried_request(fields)
    assert carried is not None
    stored = c.request(sub.request_id)
    assert stored is not None
    # every field a decision reads is the stored request's
    for name in (
        "id", "channel", "service", "user_id", "session_id", "created", "state", "priority",
        "customer", "pbx", "call_id", "callback", "owner", "force_queue", "force_agent",
        "returning", "max_wait", "queues", "attempts", "rejected_until",
    ):  # fmt: skip
        assert getattr(carried, name) == getattr(stored, name), name
    assert c.redis.hget(c.keys.request(sub.request_id), "work_id") == entry_id


def test_the_worker_routes_from_the_item_without_reading_the_request(router: Router) -> None:
    """The decision is made from the item's fields: a request hash the worker would read
    says something else (a test-only edit), and the item's version wins."""
    c = router.client
    c.load_strategy(SALES)
    router.agent("alice", skills={"sales": 1})
    router.agent("bob")
    router.drain()
    sub = c.submit("chat", "sales", "u1")
    # only the reservation's own fields count from the hash; a reader would route to general
    c.redis.hset(c.keys.request(sub.request_id), "service", "support")
    router.drain()
    req = c.request(sub.request_id)
    assert req is not None and req.state is RequestState.OFFERED
    assert req.agent == "alice" and req.rule == "sales"


def _routed_from_item(router: Router, fields: dict[str, str]) -> RoutingRequest | None:
    """Submit a request for alice, replace its work item by one naming only the request
    plus `fields`, let the worker run: the request as it ends up."""
    c = router.client
    router.agent("alice")
    router.drain()
    sub = c.submit("chat", "general", "u1")
    entry_id, _ = _items(router)[-1]
    c.redis.xdel(c.keys.work(), entry_id)
    c.redis.xadd(c.keys.work(), {"kind": "request", "id": sub.request_id, **fields})
    router.drain()
    return c.request(sub.request_id)


def test_an_item_without_the_fields_is_read_as_before(router: Router) -> None:
    """An item filed by an older version (still in the stream after an upgrade) names only
    the request: the worker reads it."""
    req = _routed_from_item(router, {})
    assert req is not None and req.state is RequestState.OFFERED and req.agent == "alice"


def test_unreadable_fields_fall_back_to_reading_the_request(router: Router) -> None:
    req = _routed_from_item(router, {"channel": "fax"})
    assert req is not None and req.state is RequestState.OFFERED


def test_a_move_before_any_worker_took_the_item_is_honoured(router: Router) -> None:
    """The item carries the request as filed; a supervisor moves it to a named agent
    before a worker read it: the submit's item is deleted and the move's own item (read
    from the hash) routes it to that agent, not by the item's stale fields."""
    c = router.client
    router.agent("alice")
    router.agent("bob")
    router.drain()
    sub = c.submit("chat", "general", "u1")
    submit_item, _ = _items(router)[-1]
    assert Supervision(c).move_request(sub.request_id, agent_id="bob", by="sup").ok
    assert submit_item not in [e for e, _ in _items(router)]
    router.drain()
    req = c.request(sub.request_id)
    assert req is not None and req.state is RequestState.OFFERED and req.agent == "bob"


def test_a_transfer_before_any_worker_took_the_item_is_honoured(router: Router) -> None:
    c = router.client
    router.agent("alice")
    router.agent("bob")
    router.drain()
    sub = c.submit("chat", "general", "u1")
    submit_item, _ = _items(router)[-1]
    assert c.transfer(sub.request_id, agent_id="bob", by="sup").ok
    assert submit_item not in [e for e, _ in _items(router)]
    router.drain()
    req = c.request(sub.request_id)
    assert req is not None and req.agent == "bob"


def test_an_item_taken_over_from_a_silent_worker_is_read(router: Router) -> None:
    """A worker read the item and died after the offer was made and answered: the worker
    taking the item over must not route the request again from the item's old fields."""
    c = router.client
    router.agent("alice")
    router.drain()
    sub = c.submit("chat", "general", "u1")
    # a silent worker read the item ...
    entries = c.redis.xreadgroup(WORK_GROUP, "silent", {c.keys.work(): ">"}, count=10)[0][1]
    fields = dict(entries[-1][1])
    # ... and the request was offered and accepted meanwhile (as that worker would have)
    router.worker.allocator.route_requests([sub.request_id])
    req = c.request(sub.request_id)
    assert req is not None and req.state is RequestState.OFFERED
    assert c.accept(req.offer, "alice").ok
    offers = router.worker.stats.offers
    router.worker.handle([(entries[-1][0], fields)], fresh=False)
    assert router.worker.stats.offers == offers
    assert router.worker.stats.lost_races == 0  # read: accepted, nothing to reserve
    after = c.request(sub.request_id)
    assert after is not None and after.state is RequestState.ACCEPTED
