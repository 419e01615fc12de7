"""`create_app(config)`: the chat service's Flask application factory."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, cast

import redis
from flask import Flask, Response, g, jsonify, redirect, request, url_for
from flask_sock import Sock
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from chat import client_errors
from chat.accounts import AccountStore
from chat.auth import check_csrf
from chat.canned import CannedReplies
from chat.context import EXTENSION, Context, ctx
from chat.customers import CustomerStore
from chat.errors import (
    AuthError,
    BadInput,
    ChatError,
    Forbidden,
    NotFoundError,
    Refused,
    Throttled,
    Unavailable,
)
from chat.hub import Hub
from chat.keys import ChatKeys
from chat.login_guard import LoginGuard, LoginLimits
from chat.metrics import Metrics
from chat.names import AgentNames
from chat.safe_json import SafeJSONProvider
from chat.settings import Settings, load_settings
from chat.staff_sessions import StaffSessions
from chat.tokens import TokenSigner
from chat.uploads import FileStore, too_large
from router.connect import durability_from_url, redis_from_url

log = logging.getLogger(__name__)

STATUS = {
    AuthError: 401,
    Forbidden: 403,
    NotFoundError: 404,
    BadInput: 400,
    Refused: 409,
    Throttled: 429,
    Unavailable: 503,
}
JSON_PREFIXES = ("/api/", "/widget/", "/files/", "/ws/", "/metrics", "/healthz")


def create_app(
    config: Settings | Mapping[str, Any] | None = None, *, start_background: bool = True
) -> Flask:
    """Build the app. ``config`` is a Settings, a mapping of settings (validated), or None
    (read ``IMPLUS_CHAT_*`` from the environment). ``start_background=False`` skips the
    threads that tail the router's events (for tools that only need the routes)."""
    settings = _settings(config)
    app = Flask(__name__)
    app.json = SafeJSONProvider(app)
    if settings.proxy_hops:  # the client's address from X-Forwarded-For (login throttling)
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.proxy_hops)  # type: ignore[method-assign]
    app.config.update(
        SECRET_KEY=settings.secret_key.get_secret_value(),
        SESSION_COOKIE_NAME="implus_chat",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.cookie_secure,
        PERMANENT_SESSION_LIFETIME=timedelta(seconds=settings.staff_token_ttl),
        MAX_CONTENT_LENGTH=settings.upload_max_bytes + 64 * 1024,
        SOCK_SERVER_OPTIONS={
            "max_message_size": settings.hard_frame_bytes,
            "ping_interval": None,  # chat.connection.KeepAlive pings instead
        },
    )
    rds = redis_client(settings, decode=False)
    keys = ChatKeys(settings.domain)
    accounts = AccountStore(rds, keys)
    files = FileStore(
        settings.upload_dir, rds, keys, settings.upload_max_bytes, settings.upload_types
    )
    from chat.admin import AdminService
    from chat.calls import CallService
    from chat.recordings import RecordingStore
    from chat.service import ChatService
    from router.client import RouterClient

    router = RouterClient(
        redis_client(settings, decode=True),
        domain=settings.domain,
        durability=durability_from_url(settings.redis_url),
    )
    customers = CustomerStore(rds, keys)
    service = ChatService(router, files, settings, customers, AgentNames(router))
    app.extensions[EXTENSION] = Context(
        settings=settings,
        redis=rds,
        keys=keys,
        accounts=accounts,
        tokens=TokenSigner(settings.secret, settings.customer_token_ttl, settings.staff_token_ttl),
        files=files,
        hub=Hub(),
        router=router,
        service=service,
        admin=AdminService(router, accounts),
        metrics=Metrics(),
        login_guard=LoginGuard(rds, keys, login_limits(settings)),
        staff_sessions=StaffSessions(rds, keys, settings.staff_token_ttl),
        customers=customers,
        canned=CannedReplies(rds, keys),
        calls=CallService(router, service, RecordingStore.from_settings(settings)),
    )
    _register(app)
    if start_background:
        from chat.fanout import start_background_threads

        start_background_threads(app)
    return app


def login_limits(settings: Settings) -> LoginLimits:
    return LoginLimits(
        pair=settings.login_failures_per_account_address,
        address=settings.login_failures_per_address,
        account=settings.login_failures_per_account,
        window_s=settings.login_window_s,
    )


def redis_client(settings: Settings, decode: bool) -> redis.Redis:
    """A client on a bounded pool: thousands of websocket greenlets share
    ``redis_pool_size`` connections and wait their turn (redis-py's default pool raises
    "Too many connections" past 100 instead). One Redis or a Sentinel set (router.connect)."""
    return cast(
        redis.Redis,
        redis_from_url(
            settings.redis_url,
            decode_responses=decode,
            blocking_pool=settings.redis_pool_size,
            pool_timeout=20,
            socket_connect_timeout=5,
        ),
    )


def _settings(config: Settings | Mapping[str, Any] | None) -> Settings:
    if isinstance(config, Settings):
        return config
    if config is None:
        return load_settings()
    secret = config.get("secret_key")
    rest = {k: v for k, v in config.items() if k != "secret_key"}
    env = {"IMPLUS_CHAT_SECRET_KEY": str(secret)} if secret is not None else {}
    return load_settings(env=env, cli=rest)


def _register(app: Flask) -> None:
    from chat import (
        metrics,
        reports_api,
        supervisor_api,
        vendor,
        web_api,
        web_calls,
        web_pages,
        web_voip,
        web_widget,
        web_workspace,
        ws_routes,
        ws_sip,
    )

    app.before_request(_strip_ws_extensions)
    app.before_request(check_csrf)
    app.after_request(_security_headers)
    app.register_error_handler(ChatError, _chat_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_blueprint(web_pages.bp)
    app.register_blueprint(web_api.bp)
    app.register_blueprint(web_calls.bp)
    app.register_blueprint(web_widget.bp)
    app.register_blueprint(web_workspace.bp)
    app.register_blueprint(metrics.bp)
    app.register_blueprint(vendor.bp)
    reports_api.init_app(app, ctx(app).settings.reports_database_url)
    supervisor_api.init_app(app)
    app.register_blueprint(web_voip.bp)
    web_voip.setup(app)
    sock = Sock(app)
    ws_routes.register(app, sock)
    ws_sip.register(app, sock)


def _strip_ws_extensions() -> None:
    # simple-websocket always accepts permessage-deflate when offered: a zlib context per
    # connection (memory, CPU) and no limit on the inflated size. Chat frames are small,
    # so we never negotiate it (pinned by tests/chat/test_ws_transport.py).
    request.environ.pop("HTTP_SEC_WEBSOCKET_EXTENSIONS", None)


def _security_headers(resp: Response) -> Response:
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    if request.path.startswith("/static/"):
        # public files; the widget's modules are imported (CORS mode) by other sites
        resp.headers.setdefault("Access-Control-Allow-Origin", "*")
    resp.headers.setdefault("Referrer-Policy", "same-origin")
    if resp.mimetype == "text/html":
        resp.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; "
            "script-src 'self'; connect-src 'self' ws: wss:; frame-ancestors 'self'; "
            "base-uri 'none'; form-action 'self'",
        )
        resp.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
    return resp


def _wants_json() -> bool:
    return request.path.startswith(JSON_PREFIXES) or request.accept_mimetypes.best == (
        "application/json"
    )


def _chat_error(e: ChatError) -> Any:
    status = next((code for cls, code in STATUS.items() if isinstance(e, cls)), 500)
    if status == 500:
        log.exception("unexpected chat error", exc_info=e)
    if status == 401 and not _wants_json():
        return redirect(url_for("pages.login_form", next=request.path))
    code = getattr(e, "code", None) or _snake(type(e).__name__)
    body: dict[str, Any] = {"error": code, "message": client_errors.message_for(e, _audience())}
    if getattr(e, "problems", None):
        body["problems"] = e.problems  # type: ignore[attr-defined]
    resp = jsonify(body)
    resp.status_code = status
    if status == 401:
        resp.headers["WWW-Authenticate"] = 'Bearer realm="implus"'
    if isinstance(e, Throttled):
        resp.headers["Retry-After"] = str(e.retry_after)
    return resp


def _audience() -> str:
    """Who reads this error (see chat.client_errors)."""
    if g.get("customer") is not None or request.path.startswith("/widget/"):
        return "customer"
    return "staff" if g.get("staff") is not None else "public"


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")


def _http_error(e: HTTPException) -> Any:
    if e.code == 413:  # the body is over MAX_CONTENT_LENGTH: say what the limit is
        return _chat_error(too_large(ctx().settings.upload_max_bytes)), 413
    if not _wants_json():
        return e
    resp = jsonify({"error": e.name.lower().replace(" ", "_"), "message": e.description})
    resp.status_code = e.code or 500
    return resp
