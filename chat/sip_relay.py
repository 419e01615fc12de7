"""The SIP relay's rules: what a browser may send to the PBX, and the relay's digest auth.

One `RelayCore` per browser WebSocket (and its one upstream WebSocket to the PBX). It is
sans-I/O: `from_browser(text)` and `from_pbx(text)` return what to send where. The
browser never holds a SIP credential and can do only this (docs/voip.md, Security):

- a customer: INVITE exactly the VoIP entry numbers of the token's service, as the
  customers' endpoint, with the token's user id stamped into ``X-Implus-User`` (any
  ``X-Implus-*`` the browser sent is dropped); requests inside those calls; nothing else
  (no REGISTER, no REFER - a transfer could reach any number - no MESSAGE...);
- an agent: REGISTER as their own WebRTC endpoint; answer the calls the PBX sends and
  act inside them (BYE, re-INVITE for hold); no calls of their own from the softphone.

Refusals are SIP responses to the browser whose reason phrase says what happened. The
PBX's 401/407 challenges are answered here with the per-endpoint secret (the browser
never sees them); the relay then shifts that call's CSeq numbers by one and maps the new
Via branch back, so both ends see consistent transactions.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Literal

from chat import sip_message as sip
from chat.sip_message import SipMessage, SipParseError

log = logging.getLogger(__name__)

Role = Literal["customer", "agent"]
Send = tuple[Literal["pbx", "browser"], str]

#: Headers a browser may never set: identity, credentials, transfers, ours.
STRIPPED = (
    "authorization",
    "proxy-authorization",
    "p-asserted-identity",
    "p-preferred-identity",
    "remote-party-id",
    "diversion",
    "history-info",
    "referred-by",
    "refer-to",
    "replaces",
    "join",
)
IN_DIALOG = ("ACK", "BYE", "CANCEL", "INFO", "UPDATE", "PRACK", "INVITE", "OPTIONS", "NOTIFY")
MAX_DIALOGS = 8
MAX_REGISTER_EXPIRES = 600


@dataclass
class RelayCore:
    """The rules for one browser connection. ``endpoint``/``password``: the SIP identity
    the relay authenticates as (the customers' endpoint, or the agent's own)."""

    role: Role
    endpoint: str
    password: str
    numbers: frozenset[str] = frozenset()
    """Customer: the extensions they may INVITE (the service's VoIP entry points)."""
    user_id: str = ""
    service: str = ""
    dialogs: set[str] = field(default_factory=set)
    """Call-IDs this connection may act in (its own INVITEs/REGISTERs, the PBX's INVITEs)."""
    ended: set[str] = field(default_factory=set)
    """Call-IDs whose call is over (kept for the last ACK; dropped when room is needed)."""
    refusals: list[str] = field(default_factory=list)
    """Reasons of every refusal (the server logs them; tests read them)."""
    _offset: dict[str, int] = field(default_factory=dict)
    _branch_up: dict[str, str] = field(default_factory=dict)
    _branch_down: dict[str, str] = field(default_factory=dict)
    _pending: dict[tuple[str, str], SipMessage] = field(default_factory=dict)
    _challenged: set[tuple[str, str]] = field(default_factory=set)

    # --- browser -> PBX ---------------------------------------------------------------
    def from_browser(self, text: str | bytes) -> list[Send]:
        try:
            msg = sip.parse(text)
        except SipParseError as e:
            self.refusals.append(f"unparsable message: {e}")
            return []
        if not msg.is_request:  # answering the PBX's request (ringing, 200 OK...)
            if msg.call_id not in self.dialogs:
                return []
            if msg.method == "BYE" and msg.status == 200:
                self._forget(msg.call_id)
            return [("pbx", str(msg))]
        refusal = self._check(msg)
        if refusal is not None:
            status, reason = refusal
            self.refusals.append(f"{msg.method}: {reason}")
            if msg.method == "ACK":
                return []
            return [("browser", str(sip.response(msg, status, reason)))]
        msg.remove(*STRIPPED, prefix="x-implus-")
        if self.role == "customer" and msg.method == "INVITE" and not msg.to_tag:
            from admin_config.webrtc import SERVICE_HEADER, USER_HEADER

            msg.headers.append((USER_HEADER, self.user_id))
            msg.headers.append((SERVICE_HEADER, self.service))
        if msg.method == "REGISTER":
            expires = msg.get("expires")
            if expires is not None and (not expires.isdigit() or int(expires) > 600):
                msg.set("expires", str(MAX_REGISTER_EXPIRES))
        self._remember(msg.call_id)
        return [("pbx", str(self._up(msg)))]

    def _remember(self, call_id: str) -> None:
        if call_id not in self.dialogs and len(self.dialogs) >= MAX_DIALOGS:
            for old in list(self.ended):
                self._drop(old)
        self.dialogs.add(call_id)

    @property
    def live_dialogs(self) -> int:
        return len(self.dialogs - self.ended)

    def _check(self, msg: SipMessage) -> tuple[int, str] | None:
        method, cid = msg.method, msg.call_id
        in_dialog = bool(msg.to_tag) or method in ("CANCEL", "ACK")
        if method in ("REFER", "SUBSCRIBE", "PUBLISH", "MESSAGE"):
            return 403, f"{method} is not allowed from the browser"
        if in_dialog:
            if cid not in self.dialogs or method not in IN_DIALOG:
                return 481, "Call/Transaction Does Not Exist"
            return None
        from_user = sip.uri_user(sip.uri_of(msg.get("from") or ""))
        if from_user != self.endpoint:
            return 403, f"Forbidden: the caller must be {self.endpoint}"
        if self.live_dialogs >= MAX_DIALOGS and cid not in self.dialogs:
            return 486, "Too many calls on this connection"
        if self.role == "customer":
            if method != "INVITE":
                return 403, f"Forbidden: {method} is not allowed for customers"
            number = sip.uri_user(msg.uri)
            if number not in self.numbers:
                return 403, "Forbidden: only this service's VoIP line can be called"
            return None
        if method == "REGISTER":
            if sip.uri_user(sip.uri_of(msg.get("to") or "")) != self.endpoint:
                return 403, f"Forbidden: the softphone registers as {self.endpoint} only"
            return None
        if method == "INVITE":
            return 403, "Forbidden: the softphone takes calls; call out with the desktop"
        return 403, f"Forbidden: {method} is not allowed from the softphone"

    def _up(self, msg: SipMessage) -> SipMessage:
        """Shift CSeq/branch for a call the relay authenticated; remember what may be
        challenged."""
        cid = msg.call_id
        off = self._offset.get(cid, 0)
        if off:
            msg.set_cseq(sip.cseq(msg.get("cseq") or "")[0] + off)
        if msg.branch in self._branch_up:
            msg.set_branch(self._branch_up[msg.branch])
        if msg.method in ("INVITE", "REGISTER") and len(self._pending) < 64:
            self._pending[(cid, msg.branch)] = msg
        return msg

    # --- PBX -> browser ---------------------------------------------------------------
    def from_pbx(self, text: str | bytes) -> list[Send]:
        try:
            msg = sip.parse(text)
        except SipParseError as e:
            log.warning("relay: unparsable message from the PBX: %s", e)
            return []
        if msg.is_request:
            return self._pbx_request(msg)
        key = (msg.call_id, msg.branch)
        request = self._pending.get(key)
        if msg.status in (401, 407) and request is not None:
            return self._answer_challenge(msg, request, key)
        if msg.status >= 200:
            self._pending.pop(key, None)
            if msg.method == "INVITE" and msg.status >= 300 and not request_in_dialog(request):
                self._forget(msg.call_id)
        off = self._offset.get(msg.call_id, 0)
        if off:
            msg.set_cseq(sip.cseq(msg.get("cseq") or "")[0] - off)
        if msg.branch in self._branch_down:
            msg.set_branch(self._branch_down[msg.branch])
        if msg.method == "BYE" and msg.status == 200:
            self._forget(msg.call_id)
        return [("browser", str(msg))]

    def _pbx_request(self, msg: SipMessage) -> list[Send]:
        cid = msg.call_id
        if msg.method == "INVITE" and not msg.to_tag and self.role == "agent":
            if self.live_dialogs >= MAX_DIALOGS:
                return [("pbx", str(sip.response(msg, 486, "Busy Here")))]
            self._remember(cid)
        elif cid not in self.dialogs and msg.method != "OPTIONS":
            return [("pbx", str(sip.response(msg, 481, "Call/Transaction Does Not Exist")))]
        return [("browser", str(msg))]

    def _answer_challenge(
        self, challenge: SipMessage, request: SipMessage, key: tuple[str, str]
    ) -> list[Send]:
        out: list[Send] = []
        if request.method == "INVITE":  # the 401 is a final response: ACK it ourselves
            out.append(("pbx", str(sip.ack_for(request, challenge))))
        self._pending.pop(key, None)
        header = "www-authenticate" if challenge.status == 401 else "proxy-authenticate"
        answer = sip.authorization(
            challenge.get_all(header), request.method, request.uri, self.endpoint, self.password
        )
        if key in self._challenged or answer is None:
            # Our credentials were refused: the PBX config and the relay disagree.
            log.error(
                "relay: the PBX refused the credentials of %s (run `implus dialplan apply`; "
                "the chat service and the PBX must share the relay secret)",
                self.endpoint,
            )
            orig = self._to_browser_view(request)
            reason = "Service Unavailable: VoIP is misconfigured, try again later"
            return [*out, ("browser", str(sip.response(orig, 503, reason)))]
        cid = request.call_id
        retry = sip.SipMessage(request.start, list(request.headers), request.body)
        retry.set_cseq(sip.cseq(request.get("cseq") or "")[0] + 1)
        self._offset[cid] = self._offset.get(cid, 0) + 1
        original = self._branch_down.get(request.branch, request.branch)
        branch = sip.new_branch()
        retry.set_branch(branch)
        self._branch_up[original] = branch
        self._branch_down[branch] = original
        retry.set("authorization" if challenge.status == 401 else "proxy-authorization", answer)
        self._pending[(cid, branch)] = retry
        self._challenged.add((cid, branch))
        return [*out, ("pbx", str(retry))]

    def _to_browser_view(self, msg: SipMessage) -> SipMessage:
        view = sip.SipMessage(msg.start, list(msg.headers), "")
        off = self._offset.get(msg.call_id, 0)
        if off:
            view.set_cseq(sip.cseq(msg.get("cseq") or "")[0] - off)
        if msg.branch in self._branch_down:
            view.set_branch(self._branch_down[msg.branch])
        return view

    def _forget(self, call_id: str) -> None:
        """The call is over; its Call-ID stays usable for the closing ACK."""
        self.ended.add(call_id)

    def _drop(self, call_id: str) -> None:
        self.ended.discard(call_id)
        self.dialogs.discard(call_id)
        self._offset.pop(call_id, None)
        for key in [k for k in self._pending if k[0] == call_id]:
            del self._pending[key]


def request_in_dialog(request: SipMessage | None) -> bool:
    return request is not None and bool(request.to_tag)
