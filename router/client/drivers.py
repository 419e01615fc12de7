"""The two drivers of the router operations: :class:`RouterClient` (redis-py, for threads
and gevent) and :class:`AsyncRouterClient` (redis.asyncio, for the asyncio AMI bridge).

Both run the same :class:`~router.client.operations.RouterOps` generators; what differs is
only whether a Redis round trip is awaited. The operation list, the script calls (KEYS and
ARGV), the pipelines and the reload of scripts Redis forgot are written once here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, overload

import redis
import redis.asyncio
from redis.exceptions import NoScriptError, RedisClusterException

from router import cluster, connect, durable, scripts
from router.client.batching import TickBatcher
from router.client.held import HeldConnection
from router.client.operations import RouterOps
from router.client.packer import HiredisPacker
from router.client.values import now_ms
from router.errors import InvalidInput, RouterUnavailable
from router.keys import Keys
from router.model import Event
from router.ops import Batch, Command, Op, Script, Step, flatten, regroup, run_sync

P = ParamSpec("P")
T = TypeVar("T")


class Operation(Generic[P, T]):
    """A :class:`RouterOps` method as a client method: a plain call on
    :class:`RouterClient`, a coroutine on :class:`AsyncRouterClient`."""

    def __init__(self, op: Callable[Concatenate[RouterOps, P], Op[T]]) -> None:
        self.op = op
        self.__doc__ = op.__doc__

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> Operation[P, T]: ...

    @overload
    def __get__(self, obj: RouterClient, owner: type | None = None) -> Callable[P, T]: ...

    @overload
    def __get__(
        self, obj: AsyncRouterClient, owner: type | None = None
    ) -> Callable[P, Awaitable[T]]: ...

    def __get__(self, obj: _Driver | None, owner: type | None = None) -> Any:
        if obj is None:
            return self
        return obj._method(self.op)


class _Driver:
    """What both drivers share: the operation list, the domain, script calls, pipelines."""

    upsert_agent = Operation(RouterOps.upsert_agent)
    remove_agent = Operation(RouterOps.remove_agent)
    agent = Operation(RouterOps.agent)
    agents = Operation(RouterOps.agents)
    heartbeat = Operation(RouterOps.heartbeat)
    set_status = Operation(RouterOps.set_status)
    agent_offers = Operation(RouterOps.agent_offers)
    agent_contacts = Operation(RouterOps.agent_contacts)
    submit = Operation(RouterOps.submit)
    cancel = Operation(RouterOps.cancel)
    request = Operation(RouterOps.request)
    offer = Operation(RouterOps.offer)
    accept = Operation(RouterOps.accept)
    reject = Operation(RouterOps.reject)
    offer_failed = Operation(RouterOps.offer_failed)
    timeout_offer = Operation(RouterOps.timeout_offer)
    complete = Operation(RouterOps.complete)
    transfer = Operation(RouterOps.transfer)
    session = Operation(RouterOps.session)
    open_session = Operation(RouterOps.open_session)
    history = Operation(RouterOps.history)
    session_requests = Operation(RouterOps.session_requests)
    append = Operation(RouterOps.append)
    transcript = Operation(RouterOps.transcript)
    close_session = Operation(RouterOps.close_session)
    close_if_idle = Operation(RouterOps.close_if_idle)
    click_to_call = Operation(RouterOps.click_to_call)
    load_strategy = Operation(RouterOps.load_strategy)
    strategy = Operation(RouterOps.strategy)
    ensure_strategy = Operation(RouterOps.ensure_strategy)
    explain = Operation(RouterOps.explain)
    queue_stats = Operation(RouterOps.queue_stats)
    read_events = Operation(RouterOps.read_events)

    def __init__(
        self,
        redis_client: Any,
        domain: str,
        clock: Callable[[], int],
        durability: durable.Durability | None,
    ) -> None:
        if not redis_client.get_encoder().decode_responses:
            raise InvalidInput("the Redis client must be created with decode_responses=True")
        self.redis = redis_client
        self.pinned = cluster.is_cluster(redis_client)
        """On a Redis Cluster, steps go to the master of the domain's slot on its own
        connections (a domain's keys are all in that slot): redis-py's cluster pipeline
        costs ~3x the client CPU per command (:mod:`router.cluster`)."""
        self.keys = Keys(domain)
        self.confirmer = _confirmer(durability, self.keys)
        """Acknowledged steps wait for the replicas (None: they do not)."""
        self.ops = RouterOps(self.keys, clock)
        self._scripts = {
            name: redis_client.register_script(scripts.source(name)) for name in scripts.NAMES
        }

    def _method(self, op: Callable[..., Op[Any]]) -> Callable[..., Any]:
        raise NotImplementedError

    def _call(self, step: Script) -> tuple[Any, list[Any], list[Any]]:
        """The registered script, KEYS and ARGV of one script step."""
        return (
            self._scripts[step.name],
            scripts.keys_for(step.name, self.keys, step.args),
            [self.keys.prefix, self.ops.clock(), *step.args],
        )

    def call_args(self, item: Script | Command) -> tuple[Any, ...]:
        """The command of one batch item as sent (a script: its EVALSHA)."""
        if isinstance(item, Script):
            script, keys, args = self._call(item)
            return ("EVALSHA", script.sha, len(keys), *keys, *args)
        return tuple(item.args)

    def _fill(self, pipe: Any, batch: Batch) -> None:
        for item in batch.items:
            if isinstance(item, Script):
                # EVALSHA straight into the pipeline: redis-py would otherwise ask SCRIPT
                # EXISTS for the pipeline's scripts on every execute (one more round trip).
                script, keys, args = self._call(item)
                pipe.evalsha(script.sha, len(keys), *keys, *args)
            else:
                pipe.execute_command(*item.args)

    @staticmethod
    def _forgotten(batch: Batch, replies: list[Any]) -> list[tuple[int, Script]]:
        """The scripts of a batch Redis did not know (restarted, SCRIPT FLUSH): they are
        run again one by one, which loads them."""
        out = []
        for i, reply in enumerate(replies):
            if isinstance(reply, NoScriptError):
                item = batch.items[i]
                assert isinstance(item, Script)
                out.append((i, item))
        return out

    @staticmethod
    def _redirected(replies: list[Any]) -> list[int]:
        """Items of a batch sent to the domain's master that the slot's move refused while
        the items before them ran: they go again through the cluster client, alone (a
        batch refused as a whole is sent again whole, :func:`router.cluster.run_pinned`)."""
        out = [i for i, r in enumerate(replies) if isinstance(r, cluster.REDIRECTS)]
        return out if len(out) < len(replies) else []

    @staticmethod
    def checked(replies: list[Any]) -> list[Any]:
        """Any other error is raised, as redis-py would."""
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return replies


def _unavailable(e: Exception) -> RouterUnavailable:
    """An unreachable Redis or a failover under way, as the router says it."""
    return RouterUnavailable(
        f"Redis unavailable ({e}); is redis-server running at the configured URL, or is a "
        "failover under way? Retry in a moment"
    )


def _confirmer(durability: durable.Durability | None, keys: Keys) -> durable.Confirmer | None:
    return durable.Confirmer(durability, keys.acks()) if durability is not None else None


def _one(step: Step) -> Op[Any]:
    return (yield step)


class RouterClient(_Driver):
    """Synchronous router client (redis-py). Safe to share between threads."""

    def __init__(
        self,
        redis_client: redis.Redis,
        domain: str = "default",
        clock: Callable[[], int] = now_ms,
        durability: durable.Durability | None = None,
    ) -> None:
        super().__init__(redis_client, domain, clock, durability)

    @classmethod
    def from_url(cls, url: str, domain: str = "default", **kwargs: Any) -> RouterClient:
        """``url``: see :mod:`router.connect` (one Redis or a Sentinel set)."""
        kwargs.setdefault("durability", connect.durability_from_url(url))
        return cls(connect.redis_from_url(url, **HiredisPacker.options()), domain, **kwargs)

    def _method(self, op: Callable[..., Op[Any]]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            return self.run(op(self.ops, *args, **kwargs))

        call.__doc__ = op.__doc__
        return call

    def run(self, op: Op[T], execute: Callable[[Step], Any] | None = None) -> T:
        """Drive an operation (a RouterOps generator, or several combined) to its result;
        `execute` runs its steps instead of this client's own round trips (a batching
        caller, e.g. the ESL bridge's `esl_bridge.batching.TickBatcher`)."""
        try:
            return run_sync(op, execute or self._execute)
        except (redis.RedisError, RedisClusterException) as e:
            if not connect.is_failover_error(e):
                raise
            raise _unavailable(e) from e

    def wants_confirmation(self, step: Step) -> bool:
        """True if `step` must wait for the replicas' acknowledgement (run it on its own)."""
        return self.confirmer is not None and self.confirmer.wants(step)

    def execute_many(self, steps: Sequence[Step]) -> list[Any]:
        """Several steps (scripts, commands, batches; none needing confirmation) in ONE
        pipeline. Per step: its reply (a batch's: the list of its replies), or the exception
        it ended with - the caller raises it, as `execute` would have.

        On a Redis Cluster each step goes on its own (to its slot's master, following a
        moved slot as :meth:`execute` does): one pipeline is only sure to reach one node."""
        if self.pinned:
            return [self._attempt(step) for step in steps]
        items, spans = flatten(steps)
        whole = Batch(tuple(items))
        try:
            with self.redis.pipeline(transaction=False) as pipe:
                self._fill(pipe, whole)
                replies = pipe.execute(raise_on_error=False)
        except redis.RedisError as e:
            return [e] * len(steps)
        self.rerun_forgotten(whole, replies)
        return regroup(steps, spans, replies)

    def rerun_forgotten(self, batch: Batch, replies: list[Any]) -> None:
        """In `replies` (a pipeline's, to `batch`): the scripts Redis did not know
        (restarted, SCRIPT FLUSH) run again one by one, which loads them; errors as values."""
        for i, item in self._forgotten(batch, replies):
            script, keys, args = self._call(item)
            try:
                replies[i] = script(keys=keys, args=args, client=self.redis)
            except redis.RedisError as e:
                replies[i] = e

    def _attempt(self, step: Step) -> Any:
        try:
            return self._execute(step)
        except (redis.RedisError, RedisClusterException) as e:
            return e

    def execute(self, step: Step) -> Any:
        """Run one script/command/batch directly (the allocation workers use this)."""
        return self.run(_one(step))

    def _execute(self, step: Step) -> Any:
        if self.confirmer is not None and self.confirmer.wants(step):
            return durable.execute_sync(self, self.confirmer, step)
        if self.pinned:
            return cluster.run_pinned(
                self.redis, self.keys.acks(), lambda _at, rds: self._run_on(rds, step)
            )
        return self._run_on(self.redis, step)

    def _run_on(self, rds: Any, step: Step) -> Any:
        if isinstance(step, Script):
            script, keys, args = self._call(step)
            return script(keys=keys, args=args, client=rds)
        if isinstance(step, Command):
            return rds.execute_command(*step.args)
        with rds.pipeline(transaction=False) as pipe:
            self._fill(pipe, step)
            replies = pipe.execute(raise_on_error=False)
        for i, item in self._forgotten(step, replies):
            script, keys, args = self._call(item)
            replies[i] = script(keys=keys, args=args, client=rds)
        redirected = self._redirected(replies)
        if redirected and rds is not self.redis:  # a part ran before the slot moved
            again = self._run_on(self.redis, Batch(tuple(step.items[i] for i in redirected)))
            for i, reply in zip(redirected, again, strict=True):
                replies[i] = reply
        return self.checked(replies)

    def close(self) -> None:
        self.redis.close()

    def events(self, last_id: str = "$", block_ms: int = 1000, count: int = 500) -> Iterator[Event]:
        """Follow the events stream forever from ``last_id``."""
        while True:
            for event in self.read_events(last_id, block_ms, count):
                last_id = event.id
                yield event


class AsyncRouterClient(_Driver):
    """The same API for asyncio (redis.asyncio); every operation is a coroutine."""

    def __init__(
        self,
        redis_client: redis.asyncio.Redis,
        domain: str = "default",
        clock: Callable[[], int] = now_ms,
        durability: durable.Durability | None = None,
    ) -> None:
        super().__init__(redis_client, domain, clock, durability)
        self.batcher = TickBatcher(self._send_batch)
        """Coalesces the steps of `run_batched` callers, one pipeline per loop tick."""
        self.held = HeldConnection(redis_client)
        """Where the batcher's pipelines go (`router.client.held`)."""

    @classmethod
    def from_url(cls, url: str, domain: str = "default", **kwargs: Any) -> AsyncRouterClient:
        """``url``: see :mod:`router.connect` (one Redis or a Sentinel set)."""
        kwargs.setdefault("durability", connect.durability_from_url(url))
        return cls(connect.redis_from_url(url, asyncio=True), domain, **kwargs)

    def _method(self, op: Callable[..., Op[Any]]) -> Callable[..., Any]:
        async def call(*args: Any, **kwargs: Any) -> Any:
            return await self.run(op(self.ops, *args, **kwargs))

        call.__doc__ = op.__doc__
        return call

    async def run(self, op: Op[T], held: HeldConnection | None = None) -> T:
        """Drive an operation (a RouterOps generator, or several combined) to its result;
        with `held`, its round trips on that connection (a blocking read of its own)."""
        if held is None:
            return await self._drive(op, self._execute)
        return await self._drive(op, lambda step: held.step(self, step))

    async def run_batched(self, op: Op[T]) -> T:
        """`run`, with each Redis round trip shared with the other `run_batched` calls of
        the same event-loop tick (one pipeline: see :mod:`router.client.batching`). For
        operations that never block in Redis."""
        return await self._drive(op, self._execute_batched)

    async def _drive(self, op: Op[T], execute: Callable[[Step], Awaitable[Any]]) -> T:
        try:
            step = next(op)
            while True:
                step = op.send(await execute(step))
        except StopIteration as done:
            return done.value
        except (redis.RedisError, RedisClusterException) as e:
            if not connect.is_failover_error(e):
                raise
            raise _unavailable(e) from e

    async def _execute_batched(self, step: Step) -> Any:
        if self.confirmer is not None and self.confirmer.wants(step):
            return await durable.execute_async(self, self.confirmer, step)
        return await self.batcher.execute(step)

    async def _send_batch(self, batch: Batch) -> list[Any]:
        """One pipeline (on a cluster, to the domain's master); the replies with errors as
        values."""
        if self.pinned:
            replies: list[Any] = await cluster.run_pinned_async(
                self.redis, self.keys.acks(), lambda _at, rds: self._replies_on(rds, batch)
            )
            return replies
        held = await self.held.replies([self.call_args(item) for item in batch.items])
        if held is None:  # in use (not with one pipeline under way at a time)
            return await self._replies_on(self.redis, batch)
        await self.rerun_forgotten(batch, held)
        return held

    async def execute(self, step: Step) -> Any:
        """Run one script/command/batch directly."""
        return await self.run(_one(step))

    async def _execute(self, step: Step) -> Any:
        if self.confirmer is not None and self.confirmer.wants(step):
            return await durable.execute_async(self, self.confirmer, step)
        if self.pinned:
            return await cluster.run_pinned_async(
                self.redis, self.keys.acks(), lambda _at, rds: self._run_on(rds, step)
            )
        return await self._run_on(self.redis, step)

    async def _run_on(self, rds: Any, step: Step) -> Any:
        if isinstance(step, Script):
            script, keys, args = self._call(step)
            return await script(keys=keys, args=args, client=rds)
        if isinstance(step, Command):
            return await rds.execute_command(*step.args)
        return self.checked(await self._replies_on(rds, step))

    async def _replies_on(self, rds: Any, batch: Batch) -> list[Any]:
        """A batch as one pipeline on `rds`; its replies, errors as values (scripts Redis
        forgot run again; on a cluster, items refused by a slot's move sent again through
        the cluster client, and a batch refused as a whole raises for `run_pinned`)."""
        async with rds.pipeline(transaction=False) as pipe:
            self._fill(pipe, batch)
            replies: list[Any] = await pipe.execute(raise_on_error=False)
        await self.rerun_forgotten(batch, replies, rds)
        redirected = self._redirected(replies)
        if redirected and rds is not self.redis:
            again = await self._replies_on(
                self.redis, Batch(tuple(batch.items[i] for i in redirected))
            )
            for i, reply in zip(redirected, again, strict=True):
                replies[i] = reply
        elif replies and all(isinstance(r, cluster.REDIRECTS) for r in replies):
            raise replies[0]  # refused whole: `run_pinned` sends it again
        return replies

    async def rerun_forgotten(self, batch: Batch, replies: list[Any], rds: Any = None) -> None:
        """In `replies` (a pipeline's, to `batch`): the scripts Redis did not know run again
        one by one (which loads them) on `rds` (default: the client); errors as values."""
        rds = self.redis if rds is None else rds
        for i, item in self._forgotten(batch, replies):
            script, keys, args = self._call(item)
            try:
                replies[i] = await script(keys=keys, args=args, client=rds)
            except redis.ResponseError as e:
                replies[i] = e

    async def close(self) -> None:
        await self.batcher.close()
        await self.held.close()
        await cluster.close_async(self.redis)
        await self.redis.aclose()

    async def events(
        self, last_id: str = "$", block_ms: int = 1000, count: int = 500
    ) -> AsyncIterator[Event]:
        """Follow the events stream forever from ``last_id``."""
        while True:
            for event in await self.read_events(last_id, block_ms, count):
                last_id = event.id
                yield event
