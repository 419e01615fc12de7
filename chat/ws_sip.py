"""The SIP relay's WebSockets: browser <-> chat service <-> the PBX's WebSocket transport.

``/ws/sip/customer?ticket=T`` (a one-time ticket from ``POST /widget/voip``, made from the
customer token) and ``/ws/sip/agent`` (the agent's login cookie). Each browser socket
gets its own upstream socket to the PBX (``webrtc.ws_url``), so the PBX sees one SIP
flow per browser and sends calls for a registered softphone down the right one. The
rules (what may pass, digest auth) are `chat.sip_relay.RelayCore`'s; this module only
moves frames. Media does not pass here: browsers and the PBX exchange RTP directly.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Any

from flask import Flask, g, request
from flask_sock import Sock
from simple_websocket import Client, ConnectionClosed

from chat.accounts import Role
from chat.auth import origin_allowed, staff_from_request
from chat.connection import harden
from chat.context import ctx
from chat.errors import AuthError, Forbidden, RateLimited
from chat.ratelimit import TokenBucket
from chat.sip_relay import RelayCore
from chat.voip_directory import Line

log = logging.getLogger(__name__)
PATHS = ("/ws/sip/customer", "/ws/sip/agent")
MAX_FRAME = 64 * 1024


def _check_upgrade() -> None:
    """before_request: refuse the upgrade (HTTP 401/403) unless the caller may relay."""
    if request.path not in PATHS:
        return
    from chat.web_voip import directory, redeem_ticket

    c = ctx()
    customer = request.path == "/ws/sip/customer"
    if not origin_allowed(request, c.settings.allowed_origins if customer else ()):
        raise Forbidden("websocket Origin not allowed: add it to allowed_origins")
    voip = directory()
    if customer:
        user_id, service = redeem_ticket(request.args.get("ticket", ""))
        line = voip.customer_line(service, user_id)
        g.sip_core = RelayCore(
            "customer",
            line.endpoint,
            line.password,
            numbers=line.numbers,
            user_id=user_id,
            service=service,
        )
        g.sip_line = line
        return
    who = staff_from_request()
    if who is None:
        raise AuthError("log in first")
    if who.role is not Role.AGENT:
        raise Forbidden("the softphone is for agents")
    found = voip.softphone(who.account_id)
    if found is None:
        raise Forbidden(f"agent {who.account_id!r} has no WebRTC phone in the admin config")
    g.sip_core = RelayCore("agent", found.endpoint, found.password)
    g.sip_line = found
    g.sip_staff = who


def register(app: Flask, sock: Sock) -> None:
    app.before_request(_check_upgrade)
    options = app.config["SOCK_SERVER_OPTIONS"]
    options["subprotocols"] = [*options.get("subprotocols", []), "sip"]

    @sock.route("/ws/sip/customer")
    def sip_customer(ws: Any) -> None:
        relay(ws, g.sip_line, g.sip_core, None)

    @sock.route("/ws/sip/agent")
    def sip_agent(ws: Any) -> None:
        relay(ws, g.sip_line, g.sip_core, g.sip_staff)


def relay(ws: Any, line: Line, core: RelayCore, staff: Any) -> None:
    """Pump frames both ways until either side goes; then close both."""
    c = ctx()
    harden(ws)
    try:
        upstream = Client.connect(line.ws_url, subprotocols=["sip"], max_message_size=MAX_FRAME)
    except Exception as e:  # refused, timed out, TLS...: the PBX's listener is not there
        log.error("relay: cannot reach the PBX WebSocket %s: %s", line.ws_url, e)
        ws.close(1013, "VoIP is unavailable right now: try again later")
        return
    harden(upstream)
    done = threading.Event()
    who = f"{core.role} {core.user_id or core.endpoint}"
    log.info("relay: %s connected to %s", who, line.pbx_id)

    def send(dest: str, text: str) -> None:
        (upstream if dest == "pbx" else ws).send(text)

    def from_pbx() -> None:
        try:
            while not done.is_set():
                data = upstream.receive()
                if data is None:
                    continue
                for dest, text in core.from_pbx(data):
                    send(dest, text)
        except ConnectionClosed:
            pass
        except Exception:
            log.exception("relay: PBX -> browser failed for %s", who)
        finally:
            done.set()
            with contextlib.suppress(Exception):
                ws.close(1013, "the PBX closed the connection")

    def watch_login() -> None:
        interval = c.settings.session_check_interval
        while not done.wait(interval):
            with contextlib.suppress(Exception):
                if not c.staff_sessions.live([staff])[0]:
                    log.info("relay: %s logged out: closing the softphone", who)
                    done.set()
                    ws.close(4401, "logged out: log in again")
                    upstream.close()

    threading.Thread(target=from_pbx, name="sip-relay-up", daemon=True).start()
    if staff is not None:
        threading.Thread(target=watch_login, name="sip-relay-login", daemon=True).start()
    bucket = TokenBucket(rate=20, burst=60)
    try:
        while not done.is_set():
            data = ws.receive()
            if data is None:
                continue
            try:
                bucket.take()
            except RateLimited:
                core.refusals.append("rate limited")
                continue
            for dest, text in core.from_browser(data):
                send(dest, text)
    except ConnectionClosed:
        pass
    finally:
        done.set()
        with contextlib.suppress(Exception):
            upstream.close()
        if core.refusals:
            log.info("relay: %s refused: %s", who, "; ".join(core.refusals[-5:]))
        log.info("relay: %s disconnected", who)
