"""The chat service's settings: one typed object, built once from file < env < CLI.

A missing or bad value fails at start with a message naming the key and where it came
from. Secrets (the signing key) are accepted from the environment only and are held as
``SecretStr`` so they never appear in logs, reprs or error messages.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from chat.errors import ConfigError

ENV_PREFIX = "IMPLUS_CHAT_"
NODE_MODULES = Path(__file__).resolve().parents[1] / "node_modules"
SECRET_KEYS = frozenset({"secret_key"})
"""Settings that may only come from the environment (never a file or the command line)."""

DEFAULT_UPLOAD_TYPES = (
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "application/pdf",
    "text/plain",
)


class Settings(BaseModel):
    """Everything one chat process needs. Field docs are the reference for the config file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    redis_url: str = "redis://127.0.0.1:6379/0"
    """Where the router's Redis lives (all instances of the service share it): redis://,
    rediss://, unix:// or redis+sentinel://host:port,host:port/master_name (docs/scaling.md)."""
    domain: str = "default"
    """Routing domain (the router's key hash tag)."""
    redis_pool_size: int = Field(default=64, ge=2, le=10_000)
    """Redis connections per worker process (each of the two pools); websocket handlers
    wait for a free one."""
    secret_key: SecretStr = Field(min_length=32)
    """Signs cookies and tokens. Env only: IMPLUS_CHAT_SECRET_KEY (32+ random characters)."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    """gunicorn worker processes; each is one chat instance tailing the events stream."""
    worker_class: Literal["gevent", "gthread"] = "gevent"
    threads: int = Field(default=64, ge=1, le=10_000)
    """Threads per worker for ``gthread`` (each websocket holds one)."""
    max_connections: int = Field(default=10_000, ge=10, le=200_000)
    """Concurrent connections per gevent worker (gunicorn ``worker_connections``)."""

    allowed_origins: tuple[str, ...] = ()
    """Origins (scheme://host[:port]) allowed to open websockets and call the widget API.

    The service's own origin is always allowed."""
    cookie_secure: bool = False
    """Set when served over HTTPS (behind a TLS proxy)."""
    proxy_hops: int = Field(default=0, ge=0, le=5)
    """Reverse proxies in front of the service whose X-Forwarded-For is trusted for the
    client's address (login throttling). 0: the address of the TCP peer."""

    login_failures_per_account_address: int = Field(default=5, ge=1, le=10_000)
    """Failed logins one address may make on one account (refills over login_window_s)."""
    login_failures_per_address: int = Field(default=30, ge=1, le=100_000)
    """Failed logins one address may make on all accounts together."""
    login_failures_per_account: int = Field(default=20, ge=1, le=100_000)
    """Failed logins on one account from all addresses; beyond it only addresses that
    never failed on the account may still try (see chat/login_guard.py)."""
    login_window_s: float = Field(default=900.0, ge=1, le=7 * 24 * 3600)
    """Seconds over which a spent login budget refills completely (the longest lock-out)."""

    upload_dir: Path = Path("var/chat-uploads")
    upload_max_bytes: int = Field(default=5 * 1024 * 1024, ge=1, le=100 * 1024 * 1024)
    upload_types: tuple[str, ...] = DEFAULT_UPLOAD_TYPES

    max_text_chars: int = Field(default=4000, ge=1, le=100_000)
    max_frame_bytes: int = Field(default=16 * 1024, ge=256, le=1024 * 1024)
    """A frame larger than this gets an error frame; the connection stays open."""
    hard_frame_bytes: int = Field(default=1024 * 1024, ge=1024, le=16 * 1024 * 1024)
    """A frame larger than this closes the connection (code 1009) before it is buffered."""
    rate_per_second: float = Field(default=5.0, gt=0)
    rate_burst: int = Field(default=20, ge=1)
    outbox_limit: int = Field(default=1000, ge=10)
    """Frames queued for one slow client before it is disconnected (it resumes on reconnect)."""

    customer_token_ttl: int = Field(default=24 * 3600, ge=60)
    staff_token_ttl: int = Field(default=12 * 3600, ge=60)
    demo_mode: bool = False
    """Lets the demo page mint a customer token for any typed user id. Never in production."""

    widget_greeting: str = Field(default="Hi! How can we help you today?", max_length=300)
    """The first line the widget shows, before anyone wrote (not stored in transcripts)."""

    heartbeat_ttl: int = Field(default=30, ge=5)
    """Seconds a desktop heartbeat keeps the agent's ``desktop`` presence lease alive."""
    ping_interval: int = Field(default=25, ge=0)
    """Websocket ping interval in seconds (0 disables); a connection that did not answer
    the previous ping is closed."""
    session_check_interval: float = Field(default=2.0, gt=0, le=60)
    """Seconds between checks of the login sessions of open agent and supervisor
    websockets; one whose session was revoked is closed (code 4401) within this time."""
    stats_interval: float = Field(default=2.0, gt=0)
    """Longest time (s) between two pushes of the live wall board to supervisor pages; a
    change in the router pushes it sooner (at most every 0.25 s)."""
    wallboard_history_interval: float = Field(default=5.0, gt=0)
    """Seconds between pushes of the wall board's last hour (read from the reports
    database; one query per chat process however many supervisors are connected)."""
    reports_database_url: str = ""
    """The reports database `implus reports sink` fills (docs/reports.md). Empty: the
    IMPLUS_REPORTS_DATABASE_URL the sink uses, else its default SQLite file
    ``var/reports.sqlite3`` (``IMPLUS_DATA_DIR``)."""
    admin_config: Path | None = None
    """The admin YAML (docs/admin-config.md): each service's recording retention and the
    supervisors' phones. Without it, recordings are kept `recording_retention_days` and a
    supervisor without a phone learns it from the call's transcript."""
    recordings_dirs: dict[str, Path] = Field(default_factory=dict)
    """Where this machine finds each PBX's recordings, `pbx id: folder` (in the
    environment `ast1=/mnt/ast1-recordings,fs1=/srv/fs1`). A PBX without an entry: its
    `recordings_dir` in the admin YAML, read on this machine."""
    recording_retention_days: int = Field(default=90, ge=1, le=3650)
    """Retention of recordings whose service the admin YAML does not name."""
    prune_interval_s: float = Field(default=3600.0, ge=0)
    """Seconds between two deletions of recordings past their retention (0: only
    `implus chat prune-recordings`)."""
    node_modules: Path = Field(default_factory=lambda: NODE_MODULES)
    """Where `make deps` (npm ci) installed the browser libraries the pages load."""
    voip_config: Path | None = None
    """The admin YAML (docs/admin-config.md): enables browser VoIP (docs/voip.md) - the
    customers' "Call us", VoIP callbacks and agents' softphones through the SIP relay.
    The relay secret comes from the variable its PBX's ``webrtc.relay_secret_env`` names."""
    metrics_enabled: bool = True
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _origins(cls, v: Any) -> Any:
        v = _split(v)
        for origin in v:
            if not isinstance(origin, str) or not origin.startswith(("http://", "https://")):
                raise ValueError(f"origin {origin!r} must look like https://shop.example.com")
            if origin.rstrip("/") != origin or origin.count("/") > 2:
                raise ValueError(f"origin {origin!r} must have no path or trailing slash")
        return v

    @field_validator("upload_types", mode="before")
    @classmethod
    def _types(cls, v: Any) -> Any:
        v = _split(v)
        for t in v:
            if t in ("text/html", "image/svg+xml") or "xml" in str(t) or "html" in str(t):
                raise ValueError(f"{t!r} can carry script; it is never accepted as an upload")
        return v

    @field_validator("recordings_dirs", mode="before")
    @classmethod
    def _recordings_dirs(cls, v: Any) -> Any:
        if isinstance(v, str):  # pbx=/folder,pbx2=/folder
            pairs = [item.split("=", 1) for item in v.split(",") if item.strip()]
            if any(len(p) != 2 or not p[0].strip() or not p[1].strip() for p in pairs):
                raise ValueError("write pbx=/folder pairs separated by commas")
            v = {p[0].strip(): p[1].strip() for p in pairs}
        return v

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, v: str) -> str:
        from router.connect import parse
        from router.errors import InvalidInput

        try:
            parse(v)
        except InvalidInput as e:
            raise ValueError(str(e)) from None
        return v

    @field_validator("domain")
    @classmethod
    def _domain(cls, v: str) -> str:
        if not v or any(c in v for c in "{}: \t\n"):
            raise ValueError("use letters, digits, '-' or '_'")
        return v

    @property
    def secret(self) -> bytes:
        return self.secret_key.get_secret_value().encode()


def _split(v: Any) -> Any:
    if isinstance(v, str):
        return tuple(x.strip() for x in v.split(",") if x.strip())
    return v


def _read_file(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"cannot read config file {path}: {e.strerror}") from e
    except yaml.YAMLError as e:
        raise ConfigError(f"config file {path} is not valid YAML: {e}") from e
    except RecursionError:  # PyYAML recurses once per nesting level
        raise ConfigError(f"config file {path} is nested too deeply: fix it") from None
    if data is None:
        return {}
    if isinstance(data, dict) and isinstance(data.get("chat"), dict):
        data = data["chat"]  # a shared file may hold the chat settings under `chat:`
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must be a mapping of setting: value")
    return data


def load_settings(
    file: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    cli: Mapping[str, Any] | None = None,
) -> Settings:
    """Build the settings from a YAML file, then ``IMPLUS_CHAT_*`` env, then CLI values.

    Raises ConfigError naming the bad key and its source.
    """
    env = os.environ if env is None else env
    merged: dict[str, Any] = {}
    source: dict[str, str] = {}
    if file is not None:
        for key, value in _read_file(Path(file)).items():
            if key in SECRET_KEYS:
                raise ConfigError(
                    f"{key} must not be in the config file {file}: "
                    f"set the environment variable {ENV_PREFIX}{key.upper()} instead"
                )
            merged[key] = value
            source[key] = f"{key} in {file}"
    for name, value in env.items():
        if name.startswith(ENV_PREFIX):
            key = name[len(ENV_PREFIX) :].lower()
            if key not in Settings.model_fields:
                raise ConfigError(f"unknown setting {name} in the environment: remove it")
            merged[key] = value
            source[key] = f"environment variable {name}"
    for key, value in (cli or {}).items():
        if value is None:
            continue
        if key in SECRET_KEYS:
            raise ConfigError(f"{key} is a secret: pass it as {ENV_PREFIX}{key.upper()}")
        merged[key] = value
        source[key] = f"--{key.replace('_', '-')} on the command line"
    try:
        return Settings.model_validate(merged)
    except ValidationError as e:
        raise ConfigError(_explain(e, source)) from None


def _explain(e: ValidationError, source: Mapping[str, str]) -> str:
    lines = []
    for err in e.errors(include_input=False, include_url=False):
        key = str(err["loc"][0]) if err["loc"] else "?"
        where = source.get(key)
        if err["type"] == "missing":
            hint = (
                f"set {ENV_PREFIX}{key.upper()}"
                if key in SECRET_KEYS
                else f"add `{key}:` to the config file or set {ENV_PREFIX}{key.upper()}"
            )
            lines.append(f"{key}: missing - {hint}")
        elif err["type"] == "extra_forbidden":
            lines.append(f"{key}: unknown setting ({where}) - check the spelling")
        else:
            lines.append(f"{key}: {err['msg']} ({where or 'default'})")
    return "bad chat settings:\n  " + "\n  ".join(lines)
