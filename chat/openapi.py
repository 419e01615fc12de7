"""The admin API's OpenAPI 3.1 document, built from the pydantic bodies in api_models."""

from __future__ import annotations

from functools import cache
from typing import Any

from chat import api_models as m
from chat.reports_api import AgentReportRow, ContactReportRow, ReportOut
from chat.supervisor_api import OPENAPI_MODELS, openapi_paths

BEARER: list[dict[str, list[str]]] = [{"bearer": []}, {"cookie": []}]


def _ref(model: type[m.Body]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _op(
    summary: str,
    ok: dict[str, Any] | None = None,
    body: type[m.Body] | None = None,
    status: str = "200",
    auth: bool = True,
    admin: bool = True,
    params: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": {}}
    op["responses"][status] = {"description": "OK", **(_json(ok) if ok else {})}
    op["responses"]["400"] = {"description": "Invalid input", **_json(_ref(m.ErrorOut))}
    if auth:
        op["security"] = BEARER
        op["responses"]["401"] = {"description": "Not logged in", **_json(_ref(m.ErrorOut))}
        if admin:
            op["responses"]["403"] = {"description": "Admins only", **_json(_ref(m.ErrorOut))}
    if body is not None:
        op["requestBody"] = {"required": True, **_json(_ref(body))}
    if params:
        op["parameters"] = params
    return op


REVOKE_DOC = (
    "Ends login sessions server-side. With an empty body: the session of the token or "
    "cookie making the call (a logout for API clients). With `token`: that token's "
    "session. With `account` (and `role`, default agent): every session of the account, "
    "cookies and bearer tokens alike. Agents may revoke only their own sessions (403 "
    "otherwise); admins anyone's. A revoked token is refused at once (401) everywhere; "
    "websockets opened with it (/ws/agent, /ws/supervisor) are closed with code 4401 "
    "within `session_check_interval` seconds (2 by default)."
)

AGENT_ID = [{"name": "agent_id", "in": "path", "required": True, "schema": {"type": "string"}}]
REPLY_ID = [{"name": "reply_id", "in": "path", "required": True, "schema": {"type": "string"}}]
USER_ID = [{"name": "user_id", "in": "path", "required": True, "schema": {"type": "string"}}]
QUERY = {
    "name": "q",
    "in": "query",
    "required": True,
    "description": "2-200 characters, matched case-insensitively in texts and file names",
    "schema": {"type": "string", "minLength": 2, "maxLength": 200},
}
CANNED_DOC = (
    "Agents type `/` and the shortcut in the composer to insert the text; `{customer}` and "
    "`{agent}` become the customer's and the agent's name. A shortcut names one reply "
    "(400 `shortcut_taken` otherwise); at most 500 replies."
)


def _query(name: str, description: str, schema: dict[str, Any], required: bool = False) -> dict:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": schema,
    }


REPORT_PARAMS = [
    {
        "name": "kind",
        "in": "path",
        "required": True,
        "description": "What the rows are per",
        "schema": {"enum": ["queues", "agents", "channels", "services"]},
    },
    _query(
        "from",
        "Start of the range: 2026-12-01 (midnight) or 2026-12-01T08:15, on a quarter hour",
        {"type": "string"},
        required=True,
    ),
    _query("to", "End (excluded); default the day after a bare `from` date", {"type": "string"}),
    _query(
        "interval", "Row per interval (default hour)", {"enum": ["15m", "hour", "day", "total"]}
    ),
    _query("tz", "IANA time zone of the dates and intervals (default UTC)", {"type": "string"}),
    _query("format", "json (default) or csv; or send Accept: text/csv", {"enum": ["json", "csv"]}),
]


@cache
def spec() -> dict[str, Any]:
    models: list[type[m.Body]] = [
        m.LoginBody,
        m.TokenOut,
        m.RevokeBody,
        m.RevokeOut,
        m.Me,
        m.CustomerTokenBody,
        m.AgentBody,
        m.AgentOut,
        m.StrategyOut,
        m.QueueStatsOut,
        m.CustomerProfile,
        m.CannedReplyBody,
        m.CannedReplyOut,
        m.TransferTargetsOut,
        m.HistoryHitOut,
        m.ErrorOut,
        m.CallControlBody,
        m.SuperviseBody,
        ContactReportRow,
        AgentReportRow,
        ReportOut,
        *OPENAPI_MODELS,
    ]
    schemas: dict[str, Any] = {}
    for model in models:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "implus chat admin API",
            "version": "1",
            "description": "Manage agents, load routing strategies, read queue statistics, "
            "issue customer tokens (with the customer's profile) and manage canned replies. "
            "Authenticate with a bearer token from POST /api/auth/token (or the desktop's "
            "session cookie plus X-CSRF-Token).",
        },
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": "implus_chat"},
            },
        },
        "paths": {
            "/api/auth/token": {
                "post": _op(
                    "Log in: a bearer token for an agent or admin",
                    _ref(m.TokenOut),
                    m.LoginBody,
                    auth=False,
                )
            },
            "/api/auth/revoke": {
                "post": {
                    **_op(
                        "Revoke login sessions: your own, one token, or all of an account",
                        _ref(m.RevokeOut),
                        m.RevokeBody,
                        admin=False,
                    ),
                    "description": REVOKE_DOC,
                }
            },
            "/api/me": {"get": _op("Who the token belongs to", _ref(m.Me), admin=False)},
            "/api/customer-tokens": {
                "post": _op(
                    "Issue a customer token scoped to one user id (for your site's backend)",
                    _ref(m.TokenOut),
                    m.CustomerTokenBody,
                    status="201",
                )
            },
            "/api/agents": {
                "get": _op(
                    "All agents with live status and load",
                    {"type": "array", "items": _ref(m.AgentOut)},
                )
            },
            "/api/agents/{agent_id}": {
                "get": _op("One agent", _ref(m.AgentOut), params=AGENT_ID),
                "put": _op(
                    "Create or update an agent (and optionally its password)",
                    _ref(m.AgentOut),
                    m.AgentBody,
                    params=AGENT_ID,
                ),
                "delete": _op("Remove an agent and its login", None, status="204", params=AGENT_ID),
            },
            "/api/strategy": {
                "put": {
                    **_op(
                        "Load a routing strategy (YAML); applies to waiting requests too",
                        _ref(m.StrategyOut),
                    ),
                    "requestBody": {
                        "required": True,
                        "content": {"application/yaml": {"schema": {"type": "string"}}},
                    },
                }
            },
            "/api/queues": {
                "get": _op(
                    "Queue statistics: waiting, longest and estimated wait, service level",
                    {"type": "array", "items": _ref(m.QueueStatsOut)},
                )
            },
            "/api/canned-replies": {
                "get": _op(
                    "Every canned reply (agents insert them with /shortcut)",
                    {"type": "array", "items": _ref(m.CannedReplyOut)},
                    admin=False,
                )
            },
            "/api/canned-replies/{reply_id}": {
                "put": {
                    **_op(
                        "Create (201) or replace (200) a canned reply",
                        _ref(m.CannedReplyOut),
                        m.CannedReplyBody,
                        params=REPLY_ID,
                    ),
                    "description": CANNED_DOC,
                },
                "delete": _op("Remove a canned reply", None, status="204", params=REPLY_ID),
            },
            "/api/transfer-targets": {
                "get": _op(
                    "Queues and the agents available for a chat now (the transfer picker)",
                    _ref(m.TransferTargetsOut),
                    admin=False,
                )
            },
            "/api/customers/{user_id}/history": {
                "get": _op(
                    "Search a customer's sessions (agents: customers they serve now)",
                    {"type": "array", "items": _ref(m.HistoryHitOut)},
                    admin=False,
                    params=[*USER_ID, QUERY],
                )
            },
            "/api/reports/{kind}": {"get": _report_op()},
            **openapi_paths(_op, _ref, _query),
            **CALL_PATHS,
            "/api/openapi.json": {"get": _op("This document", {"type": "object"}, auth=False)},
            # Browser VoIP (docs/voip.md): the agent desktop's calls.
            "/api/voip/softphone": {
                "get": _op(
                    "The agent's softphone line (SIP URI, relay path, ICE servers; never a "
                    "secret), or enabled: false and why",
                    {"type": "object"},
                    admin=False,
                )
            },
            "/api/sessions/{session_id}/voip-call": {
                "post": _op(
                    "Ring the session's customer in their chat widget (VoIP callback); "
                    "online: false when no widget saw the ring within 2.5 s",
                    {"type": "object"},
                    admin=False,
                    params=[
                        {
                            "name": "session_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                )
            },
            "/api/docs": {
                "get": {
                    "summary": "This document as a page",
                    "responses": {"200": {"description": "HTML"}},
                }
            },
        },
    }


SESSION_ID = [{"name": "session_id", "in": "path", "required": True, "schema": {"type": "string"}}]
ACCEPTED = {"type": "object", "description": "request_id, command_id: the PBX was asked"}
CALL_PATHS: dict[str, Any] = {
    "/api/sessions/{session_id}/call": {
        "post": _op(
            "Act on the session's live call (the agent on it, or an admin): hold, resume, "
            "mute, unmute, transfer, consult, complete, cancel, hangup; outcomes arrive as "
            "call.control entries of the session (docs/chat.md)",
            ACCEPTED,
            m.CallControlBody,
            status="202",
            admin=False,
            params=SESSION_ID,
        )
    },
    "/api/sessions/{session_id}/supervise": {
        "post": _op(
            "Listen to, whisper to the agent of, barge in on, or leave the session's live "
            "call: the PBX rings the supervisor's phone",
            ACCEPTED,
            m.SuperviseBody,
            status="202",
            params=SESSION_ID,
        )
    },
    "/api/live-calls": {
        "get": _op("Calls connected to an agent now", {"type": "array", "items": {}})
    },
    "/api/call-transfer-targets": {
        "get": _op(
            "Queues and the other agents, for a call's transfer or consult (the chat transfer "
            "picker uses /api/transfer-targets)",
            {"type": "object"},
            admin=False,
        )
    },
}


def _report_op() -> dict[str, Any]:
    op = _op(
        "Historical report per queue, agent, channel or service over a date range, by "
        "interval (docs/reports.md says what each figure means)",
        _ref(ReportOut),
        params=REPORT_PARAMS,
    )
    op["responses"]["200"]["content"]["text/csv"] = {
        "schema": {"type": "string", "description": "A header line, then one line per row"}
    }
    op["responses"]["404"] = {"description": "No such report kind", **_json(_ref(m.ErrorOut))}
    op["responses"]["503"] = {
        "description": "The reports database is not reachable or not migrated",
        **_json(_ref(m.ErrorOut)),
    }
    return op
