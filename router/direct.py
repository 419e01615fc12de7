"""Router steps sent on a connection held for good: one pipeline without redis-py's
per-call machinery.

redis-py 8's `Pipeline.execute` checks a connection out of the pool and back for every round
trip (process checks, a readiness poll, metrics, a new Pipeline object): ~48 us of CPU for a
three-command pipeline against ~20 us for packing, sending and parsing the same replies on a
connection held already (a loop of 3,000 on a quiet core; BENCHMARKS.md). The allocation
worker sends its read and its reservations this way (two round trips per round with one
request), and the ESL bridge its batched steps (`esl_bridge.batching`). It keeps up to
`size` connections of the client's pool and writes on them directly, with the same reply
parsing (redis-py's response callbacks), the same check of an idle connection before use,
the same retry policy and the same reload of scripts Redis forgot as
`RouterClient.execute_many`.

    direct = DirectPipeline(router_client)
    replies = direct.execute_many(steps)   # None: not possible now, use the client's own
    reply = direct.execute(step)           # or the client's own; errors raised
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis
from redis.exceptions import ReadOnlyError

from router.client import RouterClient
from router.client.packer import HiredisPacker
from router.ops import Batch, Step, flatten, regroup


class DirectPipeline:
    """Pipelines on up to `size` connections held for good (see the module docstring)."""

    def __init__(self, client: RouterClient, size: int = 4) -> None:
        self.client = client
        self.size = size
        self._idle: list[Any] = []
        self._held = 0
        pool = getattr(client.redis, "connection_pool", None)  # a Redis Cluster has none
        packer = pool.connection_kwargs.get("command_packer") if pool is not None else None
        self._packer = packer if isinstance(packer, HiredisPacker) else None
        """The router's packer when the connections use it: a pipeline packed in one go."""

    def execute_many(self, steps: Sequence[Step], raw: bool = False) -> list[Any] | None:
        """As `RouterClient.execute_many` (per step: its reply, a batch's list of replies, or
        the exception it ended with); None when it cannot be done here (a Redis Cluster, or
        every held connection busy): the caller then uses the client's own. ``raw``: the
        replies as the connection reads them, without redis-py's reply callbacks (a caller
        that reads what it needs of them; they differ only where a command has one)."""
        client = self.client
        if client.pinned:
            return None
        try:
            conn = self._take()
        except redis.RedisError as e:  # cannot connect
            return [e] * len(steps)
        if conn is None:
            return None
        items, spans = flatten(steps)
        try:
            calls = [self.client.call_args(item) for item in items]
            replies = conn.retry.call_with_retry(
                lambda: self._round_trip(conn, calls, raw), lambda _error: conn.disconnect()
            )
        except redis.RedisError as e:
            conn.disconnect()
            return [e] * len(steps)
        except BaseException:  # killed mid-way: replies may be left unread on it
            conn.disconnect()
            raise
        else:
            if any(isinstance(r, ReadOnlyError) for r in replies):
                conn.disconnect()  # a master became a replica: reconnect to the new one
        finally:
            self._idle.append(conn)
        client.rerun_forgotten(Batch(tuple(items)), replies)
        return regroup(steps, spans, replies)

    def execute(self, step: Step, raw: bool = False) -> Any:
        """One step's reply as `RouterClient.execute` gives it (errors raised), on a held
        connection when possible: the client's own way for a step that waits for the
        replicas (durability), on a Redis Cluster, or with every held connection busy.
        ``raw``: as :meth:`execute_many`'s when done here (the client's own are parsed)."""
        client = self.client
        if client.wants_confirmation(step):
            return client.execute(step)
        replies = self.execute_many([step], raw)
        if replies is None:
            return client.execute(step)
        (reply,) = replies
        if isinstance(reply, Exception):
            raise reply
        return reply

    def reset(self) -> None:
        """Close the held connections (after a failover: the next use reconnects)."""
        for conn in self._idle:
            conn.disconnect()

    def _take(self) -> Any:
        if self._idle:
            return self._idle.pop()
        if self._held >= self.size:
            return None
        self._held += 1
        try:
            return self.client.redis.connection_pool.get_connection()
        except BaseException:
            self._held -= 1
            raise

    def _round_trip(self, conn: Any, calls: list[tuple[Any, ...]], raw: bool) -> list[Any]:
        # As the pool's checkout does: an idle connection with something to read was closed
        # by Redis (a restart, its idle timeout) - start on a fresh one, nothing was sent.
        try:
            stale = conn.can_read()
        except (redis.ConnectionError, OSError):
            stale = True
        if stale:
            conn.disconnect()
        packer = self._packer
        conn.send_packed_command(
            packer.pack_many(calls) if packer is not None else conn.pack_commands(calls)
        )
        if getattr(conn, "_resp2_fallback", False) and not raw:  # redis-py's RESP2 callbacks
            parse = self.client.redis.parse_response
            replies: list[Any] = []
            for args in calls:
                try:
                    replies.append(parse(conn, args[0]))
                except redis.ResponseError as e:
                    replies.append(e)
            return replies
        # What `Redis.parse_response` does for a call without options (the router passes
        # none): the connection's reply, then the command's reply callback - without its
        # option handling around each reply (~1 us per reply; tests/router/test_direct.py
        # pins the replies and errors to the client's own).
        callbacks = {} if raw else self.client.redis.response_callbacks
        replies = []
        for args in calls:
            try:
                reply = conn.read_response()
            except redis.ResponseError as e:
                replies.append(e)
                continue
            callback = callbacks.get(args[0])
            replies.append(reply if callback is None else callback(reply))
        return replies
