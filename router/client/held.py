"""Router pipelines of an asyncio process on one connection held for good.

redis.asyncio's `Pipeline.execute` takes a connection from the pool and gives it back on
every round trip, runs its observability and HIMPORT bookkeeping, and encodes each
argument in Python; a pipeline of three scripts and a command costs ~160 us of this
process's CPU against ~75 us for the same bytes packed by hiredis, written and read on a
connection held already (BENCHMARKS.md, the AMI bridge's "evening" section). The AMI
bridge's batched steps (`router.client.batching.TickBatcher`: one pipeline under way at a
time) go this way; the sync twin is `router.direct.DirectPipeline`.

Same wire and same replies as the pipeline: the commands packed byte for byte as redis-py
packs them (`HiredisPacker`), each reply through the client's response callbacks, errors
as values; an idle connection with something to read (closed by Redis) is replaced before
use, a connection error retried with the connection's own retry policy, a connection that
answered READONLY (a master became a replica) or was left mid-reply (cancelled, timed out)
closed so that the next use reconnects.
"""

from __future__ import annotations

from typing import Any

import redis.exceptions
from redis.exceptions import ReadOnlyError

from router.client.packer import HiredisPacker
from router.ops import Batch, Step

_PACKER = HiredisPacker()


class HeldConnection:
    """One connection of `redis_client`'s pool, held for pipelines (see the module doc)."""

    def __init__(self, redis_client: Any) -> None:
        self.redis = redis_client
        self._conn: Any = None
        self._busy = False

    async def replies(self, calls: list[tuple[Any, ...]]) -> list[Any] | None:
        """The replies of `calls` (argument tuples) sent as one pipeline, errors as values;
        None when the held connection is in use (the caller then uses a pipeline)."""
        if self._busy:
            return None
        self._busy = True
        try:
            conn = self._conn
            if conn is None:
                conn = self._conn = await self.redis.connection_pool.get_connection()
            try:
                replies: list[Any] = await conn.retry.call_with_retry(
                    lambda: self._round_trip(conn, calls), lambda _error: conn.disconnect()
                )
            except BaseException:  # replies may be left unread on it
                await conn.disconnect(nowait=True)
                raise
            if any(isinstance(r, ReadOnlyError) for r in replies):
                await conn.disconnect()
            return replies
        finally:
            self._busy = False

    async def step(self, client: Any, step: Step) -> Any:
        """`step`'s reply as `client.execute` (an `AsyncRouterClient`) gives it, errors
        raised, sent on this connection - or the client's own way for a step that waits for
        the replicas, on a Redis Cluster, or with this connection in use. For a caller with
        a connection of its own, e.g. a blocking read."""
        if client.pinned or (client.confirmer is not None and client.confirmer.wants(step)):
            return await client.execute(step)
        items = step.items if isinstance(step, Batch) else (step,)
        replies = await self.replies([client.call_args(item) for item in items])
        if replies is None:
            return await client.execute(step)
        await client.rerun_forgotten(Batch(tuple(items)), replies)
        checked = client.checked(replies)
        return checked if isinstance(step, Batch) else checked[0]

    async def _round_trip(self, conn: Any, calls: list[tuple[Any, ...]]) -> list[Any]:
        try:
            stale = conn.is_connected and await conn.can_read()
        except (redis.exceptions.ConnectionError, OSError):
            stale = True
        if stale:
            await conn.disconnect()
        await conn.send_packed_command(b"".join([_PACKER.pack(*args)[0] for args in calls]))
        parse = self.redis.parse_response
        replies: list[Any] = []
        for args in calls:
            try:
                replies.append(await parse(conn, args[0]))
            except redis.exceptions.ResponseError as e:
                replies.append(e)
        return replies

    async def close(self) -> None:
        """Give the connection back to the pool (closed)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.disconnect()
            await self.redis.connection_pool.release(conn)
