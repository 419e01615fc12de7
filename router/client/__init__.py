"""The router's client API: what the chat service, the PBX bridges and the CLI call.

:class:`RouterClient` (redis-py, for threads/gevent) and :class:`AsyncRouterClient`
(redis.asyncio, for the asyncio AMI bridge) expose the same operations, each written once
in :class:`RouterOps` as a sans-I/O generator (see :mod:`router.ops`), grouped by domain:
``agents``, ``requests`` (and offers), ``sessions`` (and transcripts), ``reports`` (strategy,
traces, queue figures, events); ``drivers`` runs them. Every state change is one atomic Lua
script; a refused change comes back as a :class:`Result` with the reason, never as an
exception.
"""

from router.client.drivers import AsyncRouterClient, Operation, RouterClient
from router.client.operations import RouterOps
from router.client.values import (
    DEFAULT_STRATEGY,
    MAX_ENTRY_BYTES,
    MAX_ID,
    STATS_WINDOW_MS,
    TRACE_TTL_S,
    Appended,
    QueueStats,
    Result,
    Submitted,
    new_id,
    now_ms,
    profile_fields,
    strategy_settings,
    transcript_entry,
)

__all__ = [
    "DEFAULT_STRATEGY",
    "MAX_ENTRY_BYTES",
    "MAX_ID",
    "STATS_WINDOW_MS",
    "TRACE_TTL_S",
    "Appended",
    "AsyncRouterClient",
    "Operation",
    "QueueStats",
    "Result",
    "RouterClient",
    "RouterOps",
    "Submitted",
    "new_id",
    "now_ms",
    "profile_fields",
    "strategy_settings",
    "transcript_entry",
]
