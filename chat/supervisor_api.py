"""The supervisor HTTP API: the wall board, a queue's drill-down, forcing an agent's status,
moving a waiting contact, and the report of what supervisors did. Admins only (the
supervisor page's role); every action is recorded by the router with who did it.

Routes (all under /api, documented in the OpenAPI document by :func:`openapi_paths`):

- ``GET /wallboard``, ``GET /wallboard/history``, ``GET /wallboard/queues/<q>/<channel>``
- ``POST /agents/<id>/status`` ``{"status": "away"|"offline", "reason", "sign_out"}``
- ``POST /requests/<id>/move`` ``{"queue": ...}`` or ``{"agent_id": ...}``
- ``GET /reports/supervisor-actions?from=&to=&tz=&format=``
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request

from chat import supervisor_models as sm
from chat.accounts import Role, check_account_id
from chat.api_models import ErrorOut
from chat.auth import require_staff, staff_from_request
from chat.context import ctx
from chat.errors import BadInput, NotFoundError, Refused, Unavailable
from chat.reports_api import EXTENSION as REPORTS
from chat.reports_api import ReportsAccess, off_loop
from chat.service import converted
from chat.wallboard import Wallboard, wallboard
from chat.web_api import body, out
from reports.actions import COLUMNS as ACTION_COLUMNS
from reports.actions import supervisor_actions
from reports.errors import BadPeriod, ReportsError
from reports.export import to_csv
from reports.periods import parse_period
from router.client import Result

bp = Blueprint("supervisor_api", __name__, url_prefix="/api")
require_supervisor = require_staff(Role.ADMIN)
"""Who may see the board and act on it: admins (the supervisor page's role)."""
NOT_FOUND = ("unknown agent", "unknown request")
ACTION_PARAMS = frozenset({"from", "to", "interval", "tz", "format"})


def init_app(app: Flask) -> None:
    """Register the routes and make the process's Wallboard (after reports_api.init_app)."""
    c = ctx(app)
    c.wallboard = Wallboard(c, app.extensions.get(REPORTS), c.settings.wallboard_history_interval)
    app.register_blueprint(bp)


def _who() -> str:
    who = staff_from_request()
    assert who is not None
    return who.account_id


def _checked(result: Result, doing: str) -> Result:
    if result.ok:
        return result
    if result.reason in NOT_FOUND or result.reason.startswith("unknown agent"):
        raise NotFoundError(f"{doing}: {result.reason}")
    raise Refused(f"{doing}: {result.reason}")


@bp.get("/wallboard")
@require_supervisor
def get_wallboard() -> Any:
    """The live board: queues and agents by activity."""
    frame = wallboard(ctx()).live()
    return out(sm.BoardOut.model_validate({k: v for k, v in frame.items() if k != "type"}))


@bp.get("/wallboard/history")
@require_supervisor
def get_history() -> Any:
    """The last hour from the reports database; 503 saying what to run when unreadable."""
    frame = wallboard(ctx()).history()
    if frame.get("error"):
        raise Unavailable(frame["error"])
    return out(sm.HistoryOut.model_validate({k: v for k, v in frame.items() if k != "type"}))


@bp.get("/wallboard/queues/<queue>/<channel>")
@require_supervisor
def get_queue(queue: str, channel: str) -> Any:
    """A queue's waiting and ringing contacts and the agents who serve it."""
    return out(sm.QueueDetailOut.model_validate(wallboard(ctx()).queue_detail(queue, channel)))


@bp.post("/agents/<agent_id>/status")
@require_supervisor
def force_status(agent_id: str) -> Any:
    """Set an agent away (with a reason) or offline, optionally ending their logins."""
    check_account_id(agent_id)
    b = body(sm.ForceStatusBody)
    if b.sign_out and b.status != "offline":
        raise BadInput("sign_out goes with status offline", code="invalid_body")
    c = ctx()
    with converted():
        result = wallboard(c).supervision.force_status(agent_id, b.status, b.reason, by=_who())
    _checked(result, f"agent {agent_id} not set {b.status}")
    signed_out = 0
    if b.sign_out:
        try:
            signed_out = c.staff_sessions.revoke_all(Role.AGENT, agent_id)
        except NotFoundError:
            signed_out = 0  # an agent without a desktop login has nothing to end
    return out(
        sm.ForceStatusOut(
            agent=agent_id,
            status=b.status,
            reason=b.reason.strip(),
            previous=result.request_id,
            signed_out=signed_out,
        )
    )


@bp.post("/requests/<request_id>/move")
@require_supervisor
def move(request_id: str) -> Any:
    """Move a waiting (or ringing) contact to a queue or an agent."""
    b = body(sm.MoveBody)
    if (b.queue is None) == (b.agent_id is None):
        raise BadInput("send exactly one of `queue` or `agent_id`", code="invalid_body")
    with converted():
        result = wallboard(ctx()).supervision.move_request(
            request_id, queue=b.queue or "", agent_id=b.agent_id or "", by=_who()
        )
    _checked(result, f"request {request_id} not moved")
    previous = "ringing" if result.request_id == "offered" else result.request_id
    return out(
        sm.MoveOut(
            request=request_id, previous=previous, queue=b.queue or "", agent_id=b.agent_id or ""
        )
    )


@bp.get("/reports/supervisor-actions")
@require_supervisor
def actions_report() -> Any:
    """Supervisor actions over a date range (JSON, or CSV with format=csv), newest first."""
    args = request.args
    unknown = sorted(set(args) - ACTION_PARAMS)
    if unknown:
        raise BadInput(
            f"unknown parameter(s) {', '.join(unknown)}: use {', '.join(sorted(ACTION_PARAMS))}",
            code="bad_parameter",
        )
    fmt = args.get("format") or ("csv" if request.accept_mimetypes.best == "text/csv" else "json")
    if fmt not in ("json", "csv"):
        raise BadInput("format must be json or csv", code="bad_parameter")
    try:
        period = parse_period(
            args.get("from", ""), args.get("to", ""), "total", args.get("tz", "UTC")
        )
    except BadPeriod as e:
        raise BadInput(str(e), code="bad_period") from None
    access: ReportsAccess | None = current_app.extensions.get(REPORTS)
    if access is None:
        raise Unavailable("reports are unavailable: no reports database is configured")
    try:
        rows = off_loop(_actions, access, period.start_ms, period.end_ms)
    except ReportsError as e:
        raise Unavailable(f"reports are unavailable: {e}") from None
    for row in rows:
        row["time"] = datetime.fromtimestamp(row["at"] / 1000, period.tz).isoformat("T", "seconds")
    columns = ["time", *(c for c in ACTION_COLUMNS if c != "at")]  # rows keep `at` (ms)
    if fmt == "csv":
        name = f"implus-supervisor-actions-{period.start.date()}.csv"
        return Response(
            to_csv(rows, columns),
            mimetype="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    return jsonify(
        sm.ActionsOut(
            kind="supervisor-actions",
            start=period.start.isoformat(),
            end=period.end.isoformat(),
            interval="total",
            tz=str(period.tz),
            columns=columns,
            rows=[sm.ActionRow.model_validate(r) for r in rows],
        ).model_dump()
    )


def _actions(access: ReportsAccess, start_ms: int, end_ms: int) -> list[dict[str, Any]]:
    with access.engine().connect() as conn:
        return supervisor_actions(conn, start_ms, end_ms)


def openapi_paths(op: Any, ref: Any, query: Any) -> dict[str, Any]:
    """The OpenAPI paths of this module, built with chat.openapi's helpers."""
    agent = [{"name": "agent_id", "in": "path", "required": True, "schema": {"type": "string"}}]
    req = [{"name": "request_id", "in": "path", "required": True, "schema": {"type": "string"}}]
    queue = [
        {"name": "queue", "in": "path", "required": True, "schema": {"type": "string"}},
        {
            "name": "channel",
            "in": "path",
            "required": True,
            "schema": {"enum": ["voice", "chat", "voip"]},
        },
    ]
    conflict = {"description": "Refused: the state moved on", "content": _err(ref)}
    missing = {"description": "No such agent, request or queue", "content": _err(ref)}
    unavailable = {
        "description": "Redis or the reports database is unavailable",
        "content": _err(ref),
    }
    status = op("Force an agent's status: away with a reason, or offline (logged out); "
                "offers ringing the agent go back to their queues", ref(sm.ForceStatusOut),
                sm.ForceStatusBody, params=agent)  # fmt: skip
    moved = op("Move a waiting or ringing contact to another queue or to a logged-in agent",
               ref(sm.MoveOut), sm.MoveBody, params=req)  # fmt: skip
    history = op("The last hour per queue and channel from the reports database",
                 ref(sm.HistoryOut))  # fmt: skip
    detail = op("A queue's waiting and ringing contacts and its agents", ref(sm.QueueDetailOut),
                params=queue)  # fmt: skip
    actions = op("What supervisors did (forced statuses, moved contacts), newest first",
                 ref(sm.ActionsOut), params=[
                     query("from", "Start: 2026-12-01 or 2026-12-01T08:15", {"type": "string"},
                           required=True),
                     query("to", "End (excluded); default the day after a bare date",
                           {"type": "string"}),
                     query("tz", "IANA time zone (default UTC)", {"type": "string"}),
                     query("format", "json (default) or csv", {"enum": ["json", "csv"]}),
                 ])  # fmt: skip
    for o in (status, moved):
        o["responses"]["404"] = missing
        o["responses"]["409"] = conflict
    detail["responses"]["404"] = missing
    for o in (history, actions):
        o["responses"]["503"] = unavailable
    return {
        "/api/wallboard": {"get": op("The live wall board", ref(sm.BoardOut))},
        "/api/wallboard/history": {"get": history},
        "/api/wallboard/queues/{queue}/{channel}": {"get": detail},
        "/api/agents/{agent_id}/status": {"post": status},
        "/api/requests/{request_id}/move": {"post": moved},
        "/api/reports/supervisor-actions": {"get": actions},
    }


OPENAPI_MODELS = (
    sm.ForceStatusBody,
    sm.ForceStatusOut,
    sm.MoveBody,
    sm.MoveOut,
    sm.BoardOut,
    sm.QueueDetailOut,
    sm.HistoryOut,
    sm.ActionsOut,
)


def _err(ref: Any) -> dict[str, Any]:
    return {"application/json": {"schema": ref(ErrorOut)}}
