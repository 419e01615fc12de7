"""What the chat service asks of the router, in chat's words.

Every session, offer, transcript and agent lives in the router (``router.client``); this
module only maps chat actions onto it, checks who may do what, and converts router errors
into chat errors at the boundary. It keeps no state of its own.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import redis

from chat import api_models as m
from chat.accounts import AccountStore, Role
from chat.errors import BadInput, ChatError, Forbidden, NotFoundError, Unavailable
from chat.hub import visible_to_customer
from chat.keys import ChatKeys
from chat.settings import Settings
from chat.tokens import StaffPrincipal
from chat.uploads import FileStore

if TYPE_CHECKING:
    from router.client import RouterClient
    from router.model import Session

log = logging.getLogger(__name__)
HISTORY_LIMIT = 20


def present(entry_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    """A transcript entry as clients see it: flat router fields, file fields nested."""
    body = {k: v for k, v in fields.items() if not k.startswith("file_")}
    if fields.get("file_sha256"):
        body["file"] = {
            "sha256": fields["file_sha256"],
            "name": fields.get("file_name", "file"),
            "mime": fields.get("file_mime", "application/octet-stream"),
            "size": int(fields.get("file_size") or 0),
        }
    body.setdefault("ts", int(entry_id.split("-")[0]))
    return body


class ChatService:
    """Chat actions mapped onto the router client. Safe to share between threads."""

    def __init__(
        self,
        client: RouterClient | Callable[[], RouterClient],
        rds: redis.Redis,
        keys: ChatKeys,
        files: FileStore,
        accounts: AccountStore,
        settings: Settings,
    ) -> None:
        self._client = client
        self._r = rds
        self._k = keys
        self.files = files
        self.accounts = accounts
        self.settings = settings
        self._opening = threading.Lock()

    @property
    def client(self) -> RouterClient:
        """The router client, made on first use (router.client is imported only then)."""
        if callable(self._client) and not hasattr(self._client, "submit"):
            self._client = self._client()
        return self._client

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        rds: redis.Redis,
        keys: ChatKeys,
        files: FileStore,
        accounts: AccountStore,
    ) -> ChatService:
        def make() -> RouterClient:
            from router.client import RouterClient

            return RouterClient.from_url(settings.redis_url, domain=settings.domain)

        return cls(
            make,
            rds,
            keys,
            files,
            accounts,
            settings,
        )

    # customers ------------------------------------------------------------------------
    def open_session(self, user_id: str, service: str) -> Session | None:
        with _converted():
            return self.client.open_session(user_id, service)

    def ensure_session(self, user_id: str, service: str) -> str:
        """The customer's open session for the service with a live chat contact; files a
        chat routing request when there is none (first message, or the last chat ended)."""
        with self._opening, _converted():
            session = self.client.open_session(user_id, service)
            if session is not None and self._has_live_chat(session.id):
                return session.id
            sub = self.client.submit(channel="chat", service=service, user_id=user_id)
            return str(sub.session_id)

    def _has_live_chat(self, session_id: str) -> bool:
        for req in self.client.session_requests(session_id):
            if req.channel.value == "chat" and not req.state.is_final:
                return True
        return False

    def customer_post(
        self, user_id: str, service: str, cid: str, text: str, file_sha: str | None
    ) -> tuple[str, str]:
        """Append the customer's message; returns (session id, entry id). Idempotent per cid."""
        session_id = self.ensure_session(user_id, service)
        fields: dict[str, Any] = {"type": "message", "from": "customer", "text": text}
        if file_sha:
            fields |= self._file_fields(session_id, file_sha)
        return session_id, self._append(session_id, fields, cid)

    def call_me(self, user_id: str, service: str, cid: str, number: str) -> tuple[str, str]:
        """A phone callback in the customer's session (a ``voice`` routing request)."""
        session_id = self.ensure_session(user_id, service)
        entry_id = self._append(
            session_id,
            {
                "type": "system",
                "event": "callback_requested",
                "from": "customer",
                "text": f"Callback requested to {number}",
                "number": number,
            },
            cid,
        )
        with _converted():
            self.client.submit(
                channel="voice", service=service, user_id=user_id, callback_number=number
            )
        return session_id, entry_id

    def check_customer_access(self, user_id: str, session_id: str) -> Session:
        session = self.session(session_id)
        if session.user_id != user_id:
            raise NotFoundError("no such session")  # do not confirm that it exists
        return session

    # staff ------------------------------------------------------------------------------
    def check_staff_access(self, who: StaffPrincipal, session_id: str) -> Session:
        """Admins see every session; an agent sees the ones it owns or is offered/serving,
        and the earlier sessions of customers it is serving now."""
        session = self.session(session_id)
        if who.is_admin or self.agent_serves(who.account_id, session):
            return session
        for current in self.agent_sessions(who.account_id):
            if current.user_id == session.user_id:
                return session
        raise Forbidden("you are not handling this session")

    def agent_serves(self, agent_id: str, session: Session) -> bool:
        if session.owner == agent_id:
            return True
        with _converted():
            for req in self.client.session_requests(session.id):
                if req.agent == agent_id and not req.state.is_final:
                    return True
        return False

    def agent_sessions(self, agent_id: str) -> list[Session]:
        """Sessions the agent handles now (open contacts), oldest first."""
        with _converted():
            seen: dict[str, Session] = {}
            for req in self.client.agent_contacts(agent_id):
                if req.session_id not in seen:
                    seen[req.session_id] = self.client.session(req.session_id)
        return sorted(seen.values(), key=lambda s: s.created)

    def agent_post(
        self,
        agent_id: str,
        session_id: str,
        cid: str,
        text: str,
        file_sha: str | None,
        note: bool,
    ) -> str:
        who = StaffPrincipal(agent_id, Role.AGENT, 0)
        self.check_staff_access(who, session_id)
        fields: dict[str, Any] = {
            "type": "note" if note else "message",
            "from": "agent",
            "agent": agent_id,
            "text": text,
        }
        if file_sha:
            fields |= self._file_fields(session_id, file_sha)
        return self._append(session_id, fields, cid)

    def session_view(self, session_id: str, for_customer: bool = False) -> dict[str, Any]:
        """The session, its whole timeline and (for staff) the customer's earlier sessions."""
        session = self.session(session_id)
        entries = self.replay(session_id, "0-0", for_customer)
        view: dict[str, Any] = {
            "session_id": session.id,
            "user_id": session.user_id,
            "service": session.service,
            "state": session.state,
            "owner": session.owner,
            "created": session.created,
            "entries": [{"id": i, "entry": e} for i, e in entries],
        }
        if not for_customer:
            with _converted():
                earlier = [s for s in self.client.history(session.user_id) if s.id != session.id]
            view["history"] = [
                {
                    "session_id": s.id,
                    "service": s.service,
                    "state": s.state,
                    "created": s.created,
                    "closed_at": s.closed_at,
                    "disposition": s.disposition,
                    "owner": s.owner,
                }
                for s in earlier[:HISTORY_LIMIT]
            ]
        return view

    def replay(
        self, session_id: str, after: str, for_customer: bool
    ) -> list[tuple[str, dict[str, Any]]]:
        with _converted():
            raw = self.client.transcript(session_id, after=after)
        out = []
        for entry_id, fields in raw:
            body = present(entry_id, dict(fields))
            if for_customer and not visible_to_customer(body):
                continue
            out.append((entry_id, body))
        return out

    def session(self, session_id: str) -> Session:
        with _converted():
            session = self.client.session(session_id)
        if session is None:
            raise NotFoundError("no such session")
        return session

    def _file_fields(self, session_id: str, sha: str) -> dict[str, Any]:
        f = self.files.lookup(session_id, sha)
        return {
            "file_sha256": f.sha256,
            "file_name": f.name,
            "file_mime": f.mime,
            "file_size": str(f.size),
        }

    def _append(self, session_id: str, fields: dict[str, Any], cid: str) -> str:
        with _converted():
            return str(self.client.append(session_id, fields, cmid=cid))

    # agent actions ---------------------------------------------------------------------
    def heartbeat(self, agent_id: str) -> None:
        with _converted():
            self.client.heartbeat(agent_id, source="desktop", ttl=self.settings.heartbeat_ttl)

    def set_status(self, agent_id: str, status: str, reason: str) -> None:
        with _converted():
            self.client.set_status(agent_id, status, reason=reason)

    def accept(self, agent_id: str, offer_id: str) -> str:
        """Accept an offer; returns its session id."""
        with _converted():
            self.client.accept(offer_id, agent_id)
            offer = self.client.offer(offer_id)
        return offer.session_id if offer is not None else ""

    def reject(self, agent_id: str, offer_id: str) -> None:
        with _converted():
            self.client.reject(offer_id, agent_id)

    def _agent_request(self, agent_id: str, session_id: str, channel: str = "chat") -> str:
        with _converted():
            for req in self.client.agent_contacts(agent_id):
                if req.session_id == session_id and req.channel.value == channel:
                    return str(req.id)
        raise Forbidden(f"you have no {channel} contact in this session")

    def transfer(
        self, agent_id: str, session_id: str, queue: str | None, to_agent: str | None
    ) -> None:
        if bool(queue) == bool(to_agent):
            raise BadInput("transfer to exactly one of `queue` or `agent_id`", "bad_transfer")
        request_id = self._agent_request(agent_id, session_id)
        with _converted():
            if queue:
                self.client.transfer(request_id, queue=queue)
            else:
                self.client.transfer(request_id, agent_id=to_agent)

    def close(self, agent_id: str, session_id: str, disposition: str) -> None:
        """End the agent's contacts in the session and close it with a disposition."""
        who = StaffPrincipal(agent_id, Role.AGENT, 0)
        self.check_staff_access(who, session_id)
        with _converted():
            for req in self.client.agent_contacts(agent_id):
                if req.session_id == session_id:
                    self.client.complete(req.id)
            self.client.close_session(session_id, disposition=disposition)

    def click_to_call(self, agent_id: str, session_id: str, number: str) -> None:
        who = StaffPrincipal(agent_id, Role.AGENT, 0)
        self.check_staff_access(who, session_id)
        with _converted():
            self.client.click_to_call(session_id, agent_id, number)

    def agent_state(self, agent_id: str) -> dict[str, Any]:
        with _converted():
            state = self.client.agent(agent_id)
            offers = self.client.agent_offers(agent_id)
        if state is None:
            raise NotFoundError(f"agent {agent_id!r} is not configured in the router")
        return {
            "agent": agent_summary(state),
            "offers": [offer_frame(o) for o in offers],
        }

    # admin ------------------------------------------------------------------------------
    def list_agents(self) -> list[m.AgentOut]:
        with _converted():
            states = self.client.agents()
        logins = set(self.accounts.ids(Role.AGENT))
        return [_agent_out(s, s.id in logins) for s in states]

    def agent_summaries(self) -> list[dict[str, Any]]:
        with _converted():
            return [agent_summary(s) for s in self.client.agents()]

    def get_agent(self, agent_id: str) -> m.AgentOut | None:
        with _converted():
            state = self.client.agent(agent_id)
        if state is None:
            return None
        return _agent_out(state, self.accounts.get(Role.AGENT, agent_id) is not None)

    def upsert_agent(self, agent_id: str, body: m.AgentBody) -> m.AgentOut:
        from router.model import AgentProfile

        profile = AgentProfile(
            id=agent_id,
            name=body.name,
            skills=dict(body.skills),
            capacity=dict(body.capacity),
            pbx=body.pbx,
            endpoint=body.endpoint,
        )
        with _converted():
            self.client.upsert_agent(profile)
        if body.password is not None:
            self.accounts.set_password(Role.AGENT, agent_id, body.password, body.name)
        out = self.get_agent(agent_id)
        assert out is not None
        return out

    def remove_agent(self, agent_id: str) -> None:
        with _converted():
            self.client.remove_agent(agent_id)
        if self.accounts.get(Role.AGENT, agent_id) is not None:
            self.accounts.remove(Role.AGENT, agent_id)

    def load_strategy(self, text: str) -> str:
        with _converted():
            return str(self.client.load_strategy(text))

    def queue_stats(self) -> list[m.QueueStatsOut]:
        with _converted():
            stats = self.client.queue_stats()
        return [queue_stats_out(q) for q in stats]


def agent_summary(state: Any) -> dict[str, Any]:
    return {
        "id": state.id,
        "name": state.profile.name,
        "status": state.status.value,
        "reason": state.reason,
        "load": dict(state.load),
        "capacity": dict(state.profile.capacity),
    }


def offer_frame(offer: Any, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "type": "offer",
        "offer_id": offer.id,
        "request_id": offer.request_id,
        "session_id": offer.session_id,
        "channel": offer.channel.value,
        "deadline": offer.deadline,
        **(extra or {}),
    }


def queue_stats_out(q: Any) -> m.QueueStatsOut:
    return m.QueueStatsOut(
        queue=q.queue,
        channel=getattr(q, "channel", ""),
        waiting=q.waiting,
        longest_wait_s=q.longest_wait_s,
        estimated_wait_s=q.estimated_wait_s,
        service_level=q.service_level,
    )


def _agent_out(state: Any, has_login: bool) -> m.AgentOut:
    p = state.profile
    return m.AgentOut(
        id=p.id,
        name=p.name,
        skills=dict(p.skills),
        capacity=dict(p.capacity),
        pbx=p.pbx,
        endpoint=p.endpoint,
        status=state.status.value,
        reason=state.reason,
        load=dict(state.load),
        has_login=has_login,
    )


class _converted:
    """Context manager: router and Redis errors become chat errors at this boundary."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, tp: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is None or isinstance(exc, ChatError):
            return
        rerr: Any = importlib.import_module("router.errors")

        if isinstance(exc, rerr.NotFound):
            raise NotFoundError(str(exc)) from exc
        if isinstance(exc, rerr.StrategyError):
            raise BadInput(str(exc), code="invalid_strategy") from exc
        if isinstance(exc, rerr.InvalidInput):
            raise BadInput(str(exc), code="rejected_by_router") from exc
        if isinstance(exc, rerr.RouterUnavailable | redis.RedisError):
            raise Unavailable(f"the router's Redis is unavailable: {exc}") from exc
        if isinstance(exc, rerr.RouterError):
            raise BadInput(str(exc), code="router_refused") from exc
