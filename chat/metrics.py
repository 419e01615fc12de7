"""Prometheus metrics of one chat process, served at /metrics (one registry per app)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from flask import Blueprint, Response
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from chat.context import ctx
from chat.errors import NotFoundError

bp = Blueprint("metrics", __name__)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.frames_in = Counter(
            "implus_chat_frames_received",
            "Client frames received",
            ["kind", "type"],
            registry=self.registry,
        )
        self.frame_errors = Counter(
            "implus_chat_frame_errors",
            "Client frames refused",
            ["kind", "code"],
            registry=self.registry,
        )
        self.entries_stored = Counter(
            "implus_chat_entries_stored",
            "Transcript entries appended by this process",
            ["type"],
            registry=self.registry,
        )
        self.events = Counter(
            "implus_chat_router_events", "Router events tailed", ["type"], registry=self.registry
        )
        self.fanout_seconds = Histogram(
            "implus_chat_fanout_seconds",
            "Time from an event's stream id to its dispatch here",
            buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0),
            registry=self.registry,
        )
        self.connections = Gauge(
            "implus_chat_connections",
            "Open websocket connections",
            ["kind"],
            registry=self.registry,
        )
        self.uploads = Counter(
            "implus_chat_uploads", "Files accepted", ["mime"], registry=self.registry
        )

    # Cached children: labels() takes a lock and builds a tuple on every call, which shows
    # in profiles at a thousand frames per second.
    @lru_cache(maxsize=256)  # noqa: B019 - one Metrics per process, lives as long
    def frame_in(self, kind: str, frame_type: str) -> Any:
        return self.frames_in.labels(kind, frame_type)

    @lru_cache(maxsize=256)  # noqa: B019
    def event(self, event_type: str) -> Any:
        return self.events.labels(event_type)

    @lru_cache(maxsize=64)  # noqa: B019
    def stored(self, entry_type: str) -> Any:
        return self.entries_stored.labels(entry_type)


@bp.get("/metrics")
def metrics() -> Any:
    c = ctx()
    if not c.settings.metrics_enabled:
        raise NotFoundError("metrics are disabled (metrics_enabled: false)")
    return Response(generate_latest(c.metrics.registry), mimetype=CONTENT_TYPE_LATEST)
