"""Historical reports over the admin API: ``GET /api/reports/<kind>`` as JSON or CSV.

The figures come from the reports database that ``implus reports sink`` fills
(docs/reports.md); this module only parses the query, runs the report off the gevent
loop (a month of contacts takes a moment and must not stall the websockets), and formats
the answer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from sqlalchemy.engine import Engine

from chat import api_models as m
from chat.accounts import Role
from chat.auth import require_staff
from chat.errors import BadInput, NotFoundError, Unavailable
from reports.db import check_schema, database_url, make_engine
from reports.errors import BadPeriod, ReportsError
from reports.export import to_csv
from reports.figures import columns, report
from reports.periods import Period, parse_period

bp = Blueprint("reports_api", __name__, url_prefix="/api")
EXTENSION = "implus_reports"
KINDS = {"queues": "queue", "agents": "agent", "channels": "channel", "services": "service"}
PARAMS = frozenset({"from", "to", "interval", "tz", "format"})
T = TypeVar("T")


class ContactReportRow(m.Body):
    """One queue / channel / service in one interval (docs/reports.md, "Figures")."""

    interval_start: str
    key: str
    offered: int
    answered: int
    abandoned: int
    abandon_wait_s: float | None
    max_abandon_wait_s: float | None
    overflowed: int
    answered_in_sl: int
    service_level: float | None
    asa_s: float | None
    aht_s: float | None
    avg_wrapup_s: float | None
    transfers: int
    no_answers: int


class AgentReportRow(m.Body):
    """One agent in one interval."""

    interval_start: str
    key: str
    offers: int
    answered: int
    rejected: int
    no_answers: int
    aht_s: float | None
    avg_wrapup_s: float | None
    transfers: int
    available_s: float
    away_s: float
    offline_s: float
    occupancy: float | None


class ReportOut(m.Body):
    kind: str
    start: str
    end: str
    interval: str
    tz: str
    columns: list[str]
    rows: list[ContactReportRow | AgentReportRow]


class ReportsAccess:
    """The chat process's handle on the reports database (connected on first use)."""

    def __init__(self, url: str) -> None:
        self.url = database_url(url)
        self._engine: Engine | None = None
        self._lock = threading.Lock()

    def engine(self) -> Engine:
        with self._lock:
            if self._engine is None:
                engine = make_engine(self.url)
                try:
                    check_schema(engine)
                except ReportsError:
                    engine.dispose()
                    raise
                self._engine = engine
            return self._engine

    def run(self, kind: str, period: Period, now_ms: int) -> list[dict[str, Any]]:
        with self.engine().connect() as conn:
            return report(conn, kind, period, now_ms)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


def init_app(app: Flask, url: str) -> None:
    """Register the routes and the database handle (``reports_database_url`` setting)."""
    app.extensions[EXTENSION] = ReportsAccess(url)
    app.register_blueprint(bp)


def off_loop(fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn`` in gevent's thread pool when the process is gevent-patched, so a long
    query does not stop every other greenlet; else right here."""
    try:
        from gevent import get_hub, monkey
    except ImportError:  # pragma: no cover - gevent is a dependency
        return fn(*args)
    if monkey.is_module_patched("threading"):
        return get_hub().threadpool.apply(fn, args)
    return fn(*args)


@bp.get("/reports/<kind>")
@require_staff(Role.ADMIN)
def get_report(kind: str) -> Any:
    """A report per queue, agent, channel or service (JSON, or CSV with format=csv)."""
    if kind not in KINDS:
        raise NotFoundError(f"no report {kind!r}: use one of {', '.join(KINDS)}")
    unknown = sorted(set(request.args) - PARAMS)
    if unknown:
        raise BadInput(
            f"unknown parameter(s) {', '.join(unknown)}: use {', '.join(sorted(PARAMS))}",
            code="bad_parameter",
        )
    args = request.args
    fmt = args.get("format") or ("csv" if request.accept_mimetypes.best == "text/csv" else "json")
    if fmt not in ("json", "csv"):
        raise BadInput("format must be json or csv", code="bad_parameter")
    try:
        period = parse_period(
            args.get("from", ""),
            args.get("to", ""),
            args.get("interval", "hour"),
            args.get("tz", "UTC"),
        )
    except BadPeriod as e:
        raise BadInput(str(e), code="bad_period") from None
    access: ReportsAccess = current_app.extensions[EXTENSION]
    try:
        rows = off_loop(access.run, KINDS[kind], period, int(time.time() * 1000))
    except ReportsError as e:
        raise Unavailable(f"reports are unavailable: {e}") from None
    cols = columns(KINDS[kind])
    if fmt == "csv":
        name = f"implus-{kind}-{period.start.date()}-{period.interval}.csv"
        return Response(
            to_csv(rows, cols),
            mimetype="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    return jsonify(
        {
            "kind": kind,
            "start": period.start.isoformat(),
            "end": period.end.isoformat(),
            "interval": period.interval,
            "tz": str(period.tz),
            "columns": list(cols),
            "rows": rows,
        }
    )
