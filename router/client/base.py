"""What every group of client operations shares: the domain's keys, the clock, reads."""

from __future__ import annotations

from collections.abc import Callable

from router.client.values import now_ms
from router.keys import Keys
from router.model import AgentState, RoutingRequest
from router.ops import Batch, Op, cmd, pairs


class OpsBase:
    """Operations are sans-I/O generators (:mod:`router.ops`) over one routing domain."""

    def __init__(
        self, keys: Keys, clock: Callable[[], int] = now_ms, history_ttl_s: int = 30 * 24 * 3600
    ) -> None:
        self.keys = keys
        self.clock = clock
        self.history_ttl_s = history_ttl_s

    def _agents(self) -> Op[list[AgentState]]:
        ids = sorted((yield cmd("SMEMBERS", self.keys.agents())))
        if not ids:
            return []
        replies = yield Batch(tuple(cmd("HGETALL", self.keys.agent(a)) for a in ids))
        return [AgentState.from_hash(pairs(r)) for r in replies if r]

    def _requests(self, ids: list[str]) -> Op[list[RoutingRequest]]:
        if not ids:
            return []
        replies = yield Batch(tuple(cmd("HGETALL", self.keys.request(r)) for r in ids))
        return [RoutingRequest.from_hash(pairs(r)) for r in replies if r]
