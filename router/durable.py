"""Acknowledgements that survive the loss of the master: replicas confirm them first.

What a person acts on - the ✓ of a chat message (the ``append`` script) and an accepted
offer (``accept``) - is answered only once the replicas hold it: the script, then
``PUBLISH <prefix>acks ""`` and ``WAIT <n> <timeout>`` go in ONE pipeline on one
connection, so the WAIT is answered by the server that ran the script. The PUBLISH moves
the connection's replication offset to "now": a script that wrote nothing (a duplicate
message, the same accept retried) is still confirmed only when everything before it is on
the replicas - WAIT alone would look at the connection's last write.

``n`` is every replica the master had online at the last look (``INFO replication``, at
most once a second, in the same pipeline), and at least ``Durability.replicas``. Waiting
for all of them, not just one, is what makes the promise hold whichever replica Sentinel
promotes. Fewer confirmations within the timeout raise :class:`NotReplicated` (a
:class:`RouterUnavailable`): the change is on the master but not acknowledged; the caller
retries (``append`` is idempotent per client message id, ``accept`` per offer and agent).

Scripts Redis does not have (a promoted replica never saw ``SCRIPT LOAD``) are loaded and
run again in a second pipeline that ends with the same confirmation.

On a Redis Cluster the pipeline goes to the master serving the domain's slot (every key
of a domain is in that slot), so the WAIT counts that master's replicas - the ones that
can take over the slot; a pipeline refused because the slot moved runs again on the new
master (:mod:`router.cluster`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis.exceptions

from router import cluster
from router.errors import RouterUnavailable
from router.ops import Batch, Command, Script, Step
from router.scripts import source

ACKED_SCRIPTS = frozenset({"append", "accept"})
"""The scripts whose success is shown to a person as done."""
REFRESH_S = 1.0


class NotReplicated(RouterUnavailable):
    """The change reached the master but not enough replicas in time; not acknowledged."""


@dataclass(frozen=True)
class Durability:
    """How acknowledgements wait (from the Redis URL: ``wait_replicas``, ``wait_timeout_ms``)."""

    replicas: int = 1
    """At least this many replicas confirm (and every replica the master has online)."""
    timeout_ms: int = 500


class Confirmer:
    """One client's confirmations: the policy and the master's replicas seen last."""

    def __init__(self, durability: Durability, channel: str) -> None:
        self.durability = durability
        self.channel = channel
        self.online: int | None = None
        """Replicas the master had online at the last look; None: look first (at the
        start, and after an error: the master may have changed)."""
        self._look_at = 0.0
        self.address = ""
        """The master the replica count is about (cluster: the domain's slot master)."""

    def wants(self, step: Step) -> bool:
        if isinstance(step, Script):
            return step.name in ACKED_SCRIPTS
        if isinstance(step, Batch):
            return any(isinstance(i, Script) and i.name in ACKED_SCRIPTS for i in step.items)
        return False

    def learn(self, info: Any) -> None:
        """Take the replicas online from an ``INFO replication`` reply."""
        self.online = sum(
            1
            for k, v in info.items()
            if str(k).startswith("slave") and isinstance(v, dict) and v.get("state") == "online"
        )
        self._look_at = time.monotonic() + REFRESH_S

    def forget(self) -> None:
        self.online = None

    def at(self, address: str) -> Confirmer:
        """Confirmations from the master at ``address`` (a cluster's master of the domain's
        slot): what was learned about another master's replicas is forgotten."""
        if address != self.address:
            self.address = address
            self.forget()
        return self

    def tail(self) -> tuple[list[tuple[Any, ...]], int]:
        """The commands that follow the step in its pipeline, and the confirmations needed."""
        need = max(self.durability.replicas, self.online or 0)
        out: list[tuple[Any, ...]] = [
            ("PUBLISH", self.channel, ""),
            ("WAIT", need, self.durability.timeout_ms),
        ]
        if time.monotonic() >= self._look_at:
            out.append(("INFO", "replication"))
        return out, need

    def check(self, need: int, replies: Sequence[Any]) -> None:
        """Raise unless the WAIT in ``replies`` (the tail's) counted ``need`` replicas."""
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        confirmed = int(replies[1])
        if len(replies) > 2 and isinstance(replies[2], dict):
            self.learn(replies[2])
            # a replica gone meanwhile is not waited for; one that just came online is,
            # from the next acknowledgement on
            need = max(self.durability.replicas, min(need, self.online or 0))
        elif confirmed < need:
            self._look_at = 0.0  # look at the replicas again with the next one
        if confirmed < need:
            raise NotReplicated(
                f"{confirmed} of {need} Redis replica(s) confirmed the change within "
                f"{self.durability.timeout_ms} ms, so it is not acknowledged (it may be lost "
                "if the master fails now); retry - check the replicas (INFO replication)"
            )


def _items(step: Step) -> tuple[Script | Command, ...]:
    return step.items if isinstance(step, Batch) else (step,)


def _queue(pipe: Any, client: Any, items: Sequence[Script | Command], tail: list[Any]) -> None:
    """Queue ``items`` (scripts as EVALSHA, no SCRIPT EXISTS round trip) then ``tail``."""
    for item in items:
        if isinstance(item, Script):
            script, keys, args = client._call(item)
            pipe.evalsha(script.sha, len(keys), *keys, *args)
        else:
            pipe.execute_command(*item.args)
    for command in tail:
        pipe.execute_command(*command)


def _queue_again(pipe: Any, client: Any, items: Sequence[Script], tail: list[Any]) -> int:
    """The scripts the server lacked: loaded, run, confirmed. Returns how many loads lead."""
    names = sorted({i.name for i in items})
    for name in names:
        pipe.execute_command("SCRIPT", "LOAD", source(name))
    _queue(pipe, client, items, tail)
    return len(names)


def _missing(replies: Sequence[Any]) -> list[int]:
    return [i for i, r in enumerate(replies) if isinstance(r, redis.exceptions.NoScriptError)]


def _result(step: Step, body: list[Any]) -> Any:
    for reply in body:
        if isinstance(reply, Exception):
            raise reply
    return body if isinstance(step, Batch) else body[0]


def execute_sync(client: Any, confirmer: Confirmer, step: Step) -> Any:
    """Run ``step`` and its confirmation with a sync :class:`router.client.RouterClient`.

    On a Redis Cluster all of it goes to the master serving the domain's slot, on one
    connection (:func:`router.cluster.run_pinned`)."""
    try:
        if not cluster.is_cluster(client.redis):
            return _execute_sync(client, confirmer, step, client.redis)
        return cluster.run_pinned(
            client.redis,
            client.keys.acks(),
            lambda address, rds: _execute_sync(client, confirmer.at(address), step, rds),
        )
    except redis.exceptions.RedisError:
        confirmer.forget()  # the master may be another one now
        raise


def _execute_sync(client: Any, confirmer: Confirmer, step: Step, rds: Any) -> Any:
    if confirmer.online is None:
        confirmer.learn(rds.info("replication"))
    items = _items(step)
    tail, need = confirmer.tail()
    with rds.pipeline(transaction=False) as p:
        _queue(p, client, items, tail)
        replies = p.execute(raise_on_error=False)
    body, end = replies[: len(items)], replies[len(items) :]
    missing = _missing(body)
    if missing:
        again = [items[i] for i in missing]
        with rds.pipeline(transaction=False) as p:
            loads = _queue_again(p, client, again, tail)  # type: ignore[arg-type]
            redo = p.execute(raise_on_error=False)[loads:]
        for i, reply in zip(missing, redo, strict=False):
            body[i] = reply
        end = redo[len(missing) :]
    confirmer.check(need, end)
    return _result(step, body)


async def execute_async(client: Any, confirmer: Confirmer, step: Step) -> Any:
    """:func:`execute_sync` for :class:`router.client.AsyncRouterClient`."""
    try:
        if not cluster.is_cluster(client.redis):
            return await _execute_async(client, confirmer, step, client.redis)
        return await cluster.run_pinned_async(
            client.redis,
            client.keys.acks(),
            lambda address, rds: _execute_async(client, confirmer.at(address), step, rds),
        )
    except redis.exceptions.RedisError:
        confirmer.forget()
        raise


async def _execute_async(client: Any, confirmer: Confirmer, step: Step, rds: Any) -> Any:
    if confirmer.online is None:
        confirmer.learn(await rds.info("replication"))
    items = _items(step)
    tail, need = confirmer.tail()
    async with rds.pipeline(transaction=False) as p:
        _queue(p, client, items, tail)
        replies = await p.execute(raise_on_error=False)
    body, end = replies[: len(items)], replies[len(items) :]
    missing = _missing(body)
    if missing:
        again = [items[i] for i in missing]
        async with rds.pipeline(transaction=False) as p:
            loads = _queue_again(p, client, again, tail)  # type: ignore[arg-type]
            redo = (await p.execute(raise_on_error=False))[loads:]
        for i, reply in zip(missing, redo, strict=False):
            body[i] = reply
        end = redo[len(missing) :]
    confirmer.check(need, end)
    return _result(step, body)
