"""Every router client operation, written once as a sans-I/O generator (:mod:`router.ops`)."""

from __future__ import annotations

from router.client.agents import AgentOps
from router.client.reports import ReportOps
from router.client.requests import RequestOps
from router.client.sessions import SessionOps


class RouterOps(AgentOps, RequestOps, SessionOps, ReportOps):
    """Every client operation as a generator of Redis steps (no I/O here): agents, routing
    requests and offers, sessions and transcripts, strategy and reports. The drivers in
    :mod:`router.client.drivers` run them with redis-py (sync) or redis.asyncio (async)."""
