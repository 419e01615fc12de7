"""A worker installs the built-in strategy at start when none was ever loaded; an admin may
load one at the same moment. The worker must never overwrite it (seen in a browser test:
the admin's queues vanished, replaced by `general`)."""

from __future__ import annotations

from typing import Any

from router.client import RouterClient
from router.ops import Op, Step

ADMIN_STRATEGY = """\
queues: {special: {}}
rules:
  - {name: all, actions: {queue: special}}
"""


def resume(first: Step, op: Op[Any]) -> Op[Any]:
    """The rest of `op`, whose next step is `first`."""
    reply = yield first
    while True:
        try:
            step = op.send(reply)
        except StopIteration as done:
            return done.value
        reply = yield step


def test_a_starting_worker_never_overwrites_the_strategy_an_admin_just_loaded(
    redis_url: str,
) -> None:
    client = RouterClient.from_url(redis_url)
    ensure = client.ops.ensure_strategy()
    next(ensure)  # the worker asks for the current version...
    install = ensure.send(None)  # ...sees none, and goes on to install the built-in one
    assert client.load_strategy(ADMIN_STRATEGY) == 1  # the admin's load lands in between
    assert client.run(resume(install, ensure)) == 1
    assert client.strategy().queue_names == ("special",) or set(client.strategy().queue_names) == {
        "special"
    }
    client.close()
