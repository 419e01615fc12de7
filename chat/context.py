"""The per-process objects every view and websocket handler needs, built once by create_app."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import redis
from flask import Flask, current_app

from chat.accounts import AccountStore
from chat.canned import CannedReplies
from chat.customers import CustomerStore
from chat.hub import Hub
from chat.keys import ChatKeys
from chat.login_guard import LoginGuard
from chat.settings import Settings
from chat.staff_sessions import StaffSessions
from chat.tokens import TokenSigner
from chat.uploads import FileStore

if TYPE_CHECKING:
    from chat.admin import AdminService
    from chat.calls import CallService
    from chat.metrics import Metrics
    from chat.service import ChatService
    from chat.wallboard import Wallboard
    from router.client import RouterClient

EXTENSION = "implus_chat"


@dataclass
class Context:
    settings: Settings
    redis: redis.Redis
    keys: ChatKeys
    accounts: AccountStore
    tokens: TokenSigner
    files: FileStore
    hub: Hub
    router: RouterClient
    service: ChatService
    admin: AdminService
    metrics: Metrics
    login_guard: LoginGuard
    staff_sessions: StaffSessions
    customers: CustomerStore
    canned: CannedReplies
    calls: CallService
    background: list[Any] = field(default_factory=list)
    wallboard: Wallboard | None = None
    """The supervisor's wall board (chat.supervisor_api.init_app makes it)."""


def ctx(app: Flask | None = None) -> Context:
    """The Context of the current (or given) app."""
    return (app or current_app).extensions[EXTENSION]
