"""Run the app under gunicorn (gevent workers by default), never the Werkzeug dev server."""

from __future__ import annotations

import gc
import logging
import resource
from typing import Any

from gunicorn.app.base import BaseApplication

from chat.settings import Settings

log = logging.getLogger(__name__)


def raise_fd_limit(wanted: int) -> int:
    """Lift the soft open-files limit towards ``wanted`` (each websocket is one fd)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return target
    return soft


class ChatServer(BaseApplication):
    """gunicorn configured from Settings; each worker builds its own app after forking."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        super().__init__()

    def load_config(self) -> None:
        s = self.settings
        options: dict[str, Any] = {
            "bind": f"{s.host}:{s.port}",
            "workers": s.workers,
            "worker_class": s.worker_class,
            "worker_connections": s.max_connections,
            "threads": s.threads,
            # Websockets live for hours; gevent workers heartbeat independently of requests.
            "timeout": 60,
            "graceful_timeout": 10,
            "keepalive": 5,
            "loglevel": s.log_level,
            "accesslog": None,
            "errorlog": "-",
            "proc_name": "implus-chat",
            "preload_app": False,
        }
        for key, value in options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from chat.app import create_app  # in the worker, after patching

        logging.basicConfig(
            level=self.settings.log_level.upper(),
            format="%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s",
        )
        app = create_app(self.settings)
        tune_gc()
        return app


GC_YOUNG_THRESHOLD = 50_000
"""Allocations between young collections (CPython's default is 700)."""


def tune_gc() -> None:
    """Keep the cyclic garbage collector from stalling every websocket.

    A worker holding thousands of websockets tracks about a million objects. With the
    default thresholds, objects of messages in flight survive the frequent young
    collections and pile up in the old generation until a full collection scans all
    of them: pauses of 0.5-0.8 s every few seconds at 1,000 messages/s (measured with
    benchmarks/chat_fanout.py). Collecting the young generation less often lets those
    objects die by reference counting first, and freezing what exists once the app is
    built takes the modules, the app and its config out of every later scan.
    """
    gc.collect()
    gc.freeze()
    _g0, g1, g2 = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, g1, g2)


def run(settings: Settings) -> int:
    # No monkey-patching here: gunicorn's gevent worker patches right after forking and
    # only then imports the app (preload_app is off), so redis-py gets gevent sockets.
    raise_fd_limit(settings.max_connections * settings.workers + 1024)
    log.info("chat service on http://%s:%d", settings.host, settings.port)
    ChatServer(settings).run()
    return 0
