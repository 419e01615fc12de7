"""GET /api/reports/<kind> on the Flask app with a real SQLite reports database and the real
redis-server: admins only, JSON and CSV, clear errors, documented in the OpenAPI spec and
on /api/docs; the browser libraries are served from node_modules."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chattest import fast_accounts, staff_login
from flask import Flask
from flask.testing import FlaskClient

from chat.app import create_app
from reports.db import make_engine, migrate
from reports.store import Store

pytestmark = pytest.mark.redis
T = 1_796_025_600_000  # 2026-11-30T08:00:00Z


def events() -> list[tuple[str, dict[str, str]]]:
    """One answered call (booking, 12 s wait) and one abandoned chat (billing, 40 s)."""
    rows = [
        (
            0,
            "request.created",
            {
                "request": "r1",
                "session": "s1",
                "channel": "voice",
                "service": "booking",
                "user": "+4401",
            },
        ),
        (
            0,
            "request.queued",
            {"request": "r1", "session": "s1", "channel": "voice", "queues": '["booking"]'},
        ),
        (
            1,
            "offer.created",
            {"offer": "o1", "request": "r1", "session": "s1", "agent": "alice", "channel": "voice"},
        ),
        (
            12,
            "offer.accepted",
            {
                "offer": "o1",
                "request": "r1",
                "session": "s1",
                "agent": "alice",
                "channel": "voice",
                "wait_ms": "12000",
            },
        ),
        (
            72,
            "contact.ended",
            {
                "request": "r1",
                "session": "s1",
                "agent": "alice",
                "channel": "voice",
                "reason": "done",
                "handle_ms": "60000",
                "wrapup_ms": "5000",
            },
        ),
        (
            100,
            "request.created",
            {
                "request": "r2",
                "session": "s2",
                "channel": "chat",
                "service": "billing",
                "user": "=cmd|' /C calc'!A0",
            },
        ),
        (
            100,
            "request.queued",
            {"request": "r2", "session": "s2", "channel": "chat", "queues": '["=HYPERLINK(1)"]'},
        ),
        (
            140,
            "request.cancelled",
            {
                "request": "r2",
                "session": "s2",
                "channel": "chat",
                "reason": "left",
                "waited_ms": "40000",
            },
        ),
    ]
    return [
        (f"{T + s * 1000}-{i}", {"type": kind, "at": str(T + s * 1000), **f})
        for i, (s, kind, f) in enumerate(rows)
    ]


@pytest.fixture
def reports_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'reports.sqlite3'}"
    engine = make_engine(url)
    migrate(engine)
    Store(engine, b"k").ingest(events())
    engine.dispose()
    return url


@pytest.fixture
def reports_app(chat_config: dict[str, Any], reports_url: str) -> Iterator[Flask]:
    application = create_app(
        {**chat_config, "reports_database_url": reports_url}, start_background=False
    )
    application.config["TESTING"] = True
    yield application
    application.extensions["implus_reports"].close()


@pytest.fixture
def web(reports_app: Flask) -> FlaskClient:
    return reports_app.test_client()


@pytest.fixture
def admin_auth(redis_url: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {staff_login(fast_accounts(redis_url), 'admin', 'root')}"}


def test_an_admin_gets_a_queue_report_as_json(web: FlaskClient, admin_auth: dict) -> None:
    r = web.get("/api/reports/queues?from=2026-11-30&interval=day", headers=admin_auth)
    assert r.status_code == 200, r.json
    body = r.json
    assert (body["kind"], body["interval"], body["tz"]) == ("queues", "day", "UTC")
    assert body["columns"][:4] == ["interval_start", "key", "offered", "answered"]
    rows = {row["key"]: row for row in body["rows"]}
    assert rows["booking"]["answered"] == 1
    assert rows["booking"]["asa_s"] == 12.0
    assert rows["booking"]["service_level"] == 1.0  # 12 s within the default 20 s
    assert rows["=HYPERLINK(1)"]["abandon_wait_s"] == 40.0


def test_csv_is_quoted_against_spreadsheet_formulas(web: FlaskClient, admin_auth: dict) -> None:
    r = web.get(
        "/api/reports/queues?from=2026-11-30&interval=total&tz=Europe/Paris",
        headers={**admin_auth, "Accept": "text/csv"},
    )
    assert r.status_code == 200
    assert r.mimetype == "text/csv"
    assert "attachment" in r.headers["Content-Disposition"]
    table = list(csv.DictReader(io.StringIO(r.get_data(as_text=True))))
    assert {row["key"] for row in table} == {"booking", "'=HYPERLINK(1)"}
    assert all(row["interval_start"] == "2026-11-30T00:00:00+01:00" for row in table)


def test_agent_report_and_format_parameter(web: FlaskClient, admin_auth: dict) -> None:
    r = web.get("/api/reports/agents?from=2026-11-30&format=csv", headers=admin_auth)
    lines = r.get_data(as_text=True).splitlines()
    assert lines[0].startswith("interval_start,key,offers,answered,rejected,no_answers")
    assert lines[1].startswith("2026-11-30T08:00:00+00:00,alice,1,1,0,0,60.0,5.0")


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("/api/reports/queues", 400, "bad_period"),
        ("/api/reports/queues?from=tomorrow", 400, "bad_period"),
        ("/api/reports/queues?from=2026-11-30&interval=week", 400, "bad_period"),
        ("/api/reports/queues?from=2026-11-30&tz=Nowhere/City", 400, "bad_period"),
        ("/api/reports/queues?from=2026-11-30&format=xml", 400, "bad_parameter"),
        ("/api/reports/queues?from=2026-11-30&where=1", 400, "bad_parameter"),
        ("/api/reports/customers?from=2026-11-30", 404, "not_found_error"),
    ],
)
def test_bad_queries_say_what_to_change(
    web: FlaskClient, admin_auth: dict, query: str, status: int, code: str
) -> None:
    r = web.get(query, headers=admin_auth)
    assert r.status_code == status
    assert r.json["error"] == code and r.json["message"]


def test_only_admins_see_reports(web: FlaskClient, redis_url: str) -> None:
    assert web.get("/api/reports/queues?from=2026-11-30").status_code == 401
    agent = staff_login(fast_accounts(redis_url), "agent", "alice")
    r = web.get("/api/reports/queues?from=2026-11-30", headers={"Authorization": f"Bearer {agent}"})
    assert r.status_code == 403


def test_an_unmigrated_database_is_a_503_that_says_what_to_run(
    chat_config: dict[str, Any], tmp_path: Path, admin_auth: dict
) -> None:
    app = create_app(
        {**chat_config, "reports_database_url": f"sqlite:///{tmp_path / 'empty.sqlite3'}"},
        start_background=False,
    )
    r = app.test_client().get("/api/reports/queues?from=2026-11-30", headers=admin_auth)
    assert r.status_code == 503
    assert "implus reports migrate" in r.json["message"]


def test_the_reports_endpoint_is_in_the_openapi_document_and_the_docs_page(
    web: FlaskClient,
) -> None:
    spec = web.get("/api/openapi.json").json
    op = spec["paths"]["/api/reports/{kind}"]["get"]
    assert {p["name"] for p in op["parameters"]} == {
        "kind",
        "from",
        "to",
        "interval",
        "tz",
        "format",
    }
    assert set(op["responses"]["200"]["content"]) == {"application/json", "text/csv"}
    assert "ContactReportRow" in spec["components"]["schemas"]
    page = web.get("/api/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert "<code>/api/reports/{kind}</code>" in html
    assert "service_level" in html and "ContactReportRow" in html
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]


def test_the_chart_library_comes_from_node_modules(web: FlaskClient) -> None:
    with web.get("/vendor/uplot/uPlot.esm.js") as r:
        assert r.status_code == 200, "uPlot is missing: run `make deps` (npm ci)"
        assert b"uPlot" in r.data
    assert web.get("/vendor/uplot/package.json").status_code == 404
    assert web.get("/vendor/../setup.py").status_code == 404
