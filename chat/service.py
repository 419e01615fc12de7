"""What customers and agents do in a session, mapped onto the router client.

Every session, request, offer, transcript and agent lives in the router
(:mod:`router.client`); this module only maps chat actions onto it, checks who may do
what, and converts router errors and refusals into chat errors at the boundary. It keeps
no state of its own. The admin side (agents, strategy, statistics) is in
:mod:`chat.admin`.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import threading
from collections.abc import Iterator
from typing import Any

import redis

from chat.customers import CustomerStore, customer_context, offer_preview, search_history
from chat.errors import BadInput, ChatError, Forbidden, NotFoundError, Refused, Unavailable
from chat.names import AgentNames
from chat.settings import Settings
from chat.tokens import StaffPrincipal
from chat.uploads import FileStore
from chat.visibility import for_customer
from router.client import Appended, Result, RouterClient
from router.errors import InvalidInput, NotFound, RouterError, RouterUnavailable, StrategyError
from router.model import OfferState, Session

HISTORY_LIMIT = 20
REPLAY_PAGE = 500
LOCK_STRIPES = 64


class ChatService:
    """Chat actions on the router. Safe to share between threads and greenlets."""

    def __init__(
        self,
        client: RouterClient,
        files: FileStore,
        settings: Settings,
        customers: CustomerStore,
        names: AgentNames,
    ) -> None:
        self.client = client
        self.files = files
        self.settings = settings
        self.customers = customers
        self.names = names
        # Two connections of one customer must not file two chat requests at once; a lock
        # per (user, service) stripe serialises that without serialising everyone.
        self._stripes = [threading.Lock() for _ in range(LOCK_STRIPES)]

    # --- customers -----------------------------------------------------------------------
    def open_session(self, user_id: str, service: str) -> Session | None:
        with converted():
            return self.client.open_session(user_id, service)

    def ensure_session(self, user_id: str, service: str) -> str:
        """The customer's open session for the service with a live chat request in it;
        files a chat routing request when there is none (first message, or the last chat
        contact ended). Returns the session id."""
        stripe = self._stripes[hash((user_id, service)) % LOCK_STRIPES]
        with stripe, converted():
            session = self.client.open_session(user_id, service)
            if session is not None and self._has_live_chat(session.id):
                return session.id
            facts = self.customers.facts(user_id)
            return self.client.submit(
                channel="chat", service=service, user_id=user_id, customer=facts
            ).session_id

    def _has_live_chat(self, session_id: str) -> bool:
        return any(
            r.channel.value == "chat" and not r.state.is_final
            for r in self.client.session_requests(session_id)
        )

    def customer_post(
        self,
        user_id: str,
        service: str,
        cid: str,
        text: str,
        file_sha: str | None,
        live_session: str | None = None,
    ) -> tuple[str, Appended]:
        """Append the customer's message (once per ``cid``); returns (session id, appended).

        ``live_session`` is a session the caller knows to have a live chat request (it
        saves the router round trips of :meth:`ensure_session`). A message that reaches a
        session closed meanwhile is posted again into the customer's next session, so it
        reaches an agent (the closed session keeps its copy at the end of its history)."""
        session_id = live_session or self.ensure_session(user_id, service)
        done = self._post(session_id, cid, text, file_sha)
        if done.session_state != "open" and not done.duplicate:
            session_id = self.ensure_session(user_id, service)
            done = self._post(session_id, cid, text, file_sha)
        return session_id, done

    def _post(self, session_id: str, cid: str, text: str, file_sha: str | None) -> Appended:
        entry: dict[str, Any] = {"type": "message", "from": "customer", "text": text, "cid": cid}
        if file_sha:
            entry["file"] = self.files.lookup(session_id, file_sha).to_dict()
        return self.append(session_id, entry, cid)

    def call_me(self, user_id: str, service: str, cid: str, number: str) -> tuple[str, Appended]:
        """A phone callback in the customer's session: a ``voice`` routing request with the
        number; the router offers it (the session's agent first) and the PBX bridge places
        the call. Idempotent per ``cid`` like messages."""
        digits = re.sub(r"[ ()-]", "", number)
        request_id = "cb-" + hashlib.sha256(f"{user_id}\0{service}\0{cid}".encode()).hexdigest()
        with converted():
            sub = self.client.submit(
                channel="voice",
                service=service,
                user_id=user_id,
                callback_number=digits,
                request_id=request_id,
                customer=self.customers.facts(user_id),
            )
        entry = {
            "type": "callback",
            "from": "customer",
            "number": digits,
            "text": f"Please call me at {digits}",
            "cid": cid,
            "request": sub.request_id,
        }
        return sub.session_id, self.append(sub.session_id, entry, cid)

    def check_customer_access(self, user_id: str, session_id: str) -> Session:
        session = self.session(session_id)
        if session.user_id != user_id:
            raise NotFoundError("no such session")  # do not confirm that it exists
        return session

    # --- staff: who may see what -----------------------------------------------------------
    def check_staff_access(self, who: StaffPrincipal, session_id: str) -> Session:
        """Admins see every session; an agent sees the ones it owns or is offered/serving,
        and the earlier sessions of customers it is serving now."""
        session = self.session(session_id)
        if who.is_admin or self.agent_serves(who.account_id, session):
            return session
        if any(s.user_id == session.user_id for s in self.agent_sessions(who.account_id)):
            return session
        raise Forbidden("you are not handling this session")

    def agent_serves(self, agent_id: str, session: Session) -> bool:
        if session.owner == agent_id:
            return True
        with converted():
            requests = self.client.session_requests(session.id)
        return any(r.agent == agent_id and not r.state.is_final for r in requests)

    def agent_sessions(self, agent_id: str) -> list[Session]:
        """Sessions the agent handles now (accepted contacts), oldest first."""
        with converted():
            ids = {r.session_id for r in self.client.agent_contacts(agent_id)}
            found = [self.client.session(sid) for sid in sorted(ids)]
        return sorted((s for s in found if s is not None), key=lambda s: s.created)

    # --- what agents do in a session -----------------------------------------------------------
    def agent_post(
        self,
        agent_id: str,
        session_id: str,
        cid: str,
        text: str,
        file_sha: str | None,
        note: bool,
    ) -> Appended:
        """A reply to the customer, or an internal note (never shown to customers)."""
        self._require_serving(agent_id, session_id)
        entry: dict[str, Any] = {
            "type": "note" if note else "message",
            "from": "agent",
            "agent": agent_id,
            "text": text,
            "cid": cid,
        }
        if file_sha:
            entry["file"] = self.files.lookup(session_id, file_sha).to_dict()
        return self.append(session_id, entry, cid)

    def accept(self, agent_id: str, offer_id: str) -> str:
        """Take an offer; returns its session id."""
        with converted():
            refused_unless(self.client.accept(offer_id, agent_id), "cannot accept the offer")
            offer = self.client.offer(offer_id)
        return offer.session_id if offer is not None else ""

    def reject(self, agent_id: str, offer_id: str) -> None:
        with converted():
            refused_unless(self.client.reject(offer_id, agent_id), "cannot reject the offer")

    def end_chat(self, agent_id: str, session_id: str) -> None:
        """End the agent's chat contact but keep the session open: the slot is free, and if
        the customer writes again the session's agent is offered it first."""
        request_id = self._contact(agent_id, session_id, "chat")
        with converted():
            refused_unless(self.client.complete(request_id, "ended by agent"), "cannot end")

    def transfer(
        self, agent_id: str, session_id: str, queue: str | None, to_agent: str | None
    ) -> str:
        """Hand the agent's chat in the session to a queue or a named agent; returns the
        request id now routing."""
        if bool(queue) == bool(to_agent):
            raise BadInput("transfer to exactly one of `queue` or `agent_id`", "bad_transfer")
        request_id = self._contact(agent_id, session_id, "chat")
        with converted():
            if queue:
                known = self.client.strategy().queue_names
                if queue not in known:
                    raise BadInput(
                        f"no queue {queue!r} in the routing strategy; queues: {', '.join(known)}",
                        "unknown_queue",
                    )
                result = self.client.transfer(request_id, queue=queue, by=agent_id)
            else:
                assert to_agent is not None
                if self.client.agent(to_agent) is None:
                    raise BadInput(f"no agent {to_agent!r}", "unknown_agent")
                if to_agent == agent_id:
                    raise BadInput("you cannot transfer to yourself", "bad_transfer")
                result = self.client.transfer(request_id, agent_id=to_agent, by=agent_id)
            refused_unless(result, "cannot transfer")
        return result.request_id

    def close(self, agent_id: str, session_id: str, disposition: str) -> None:
        """Close the session with a disposition: every contact in it ends (wrap-up starts),
        waiting requests are dropped, and it goes to the customer's history."""
        self._require_serving(agent_id, session_id)
        with converted():
            refused_unless(
                self.client.close_session(session_id, disposition=disposition, by=agent_id),
                "cannot close the session",
            )

    def click_to_call(self, agent_id: str, session_id: str, number: str) -> str:
        """Ask the agent's PBX for an outbound call: the agent's phone first, then the
        customer. Returns the command's id on the PBX command stream; the call's events
        land in the session transcript."""
        self._require_serving(agent_id, session_id)
        with converted():
            return self.client.click_to_call(session_id, agent_id, re.sub(r"[ ()-]", "", number))

    def heartbeat(self, agent_id: str) -> None:
        """Renew the agent's ``desktop`` presence lease (a live desktop websocket)."""
        with converted():
            self.client.heartbeat(agent_id, source="desktop", ttl=self.settings.heartbeat_ttl)

    def set_status(self, agent_id: str, status: str, reason: str) -> None:
        with converted():
            refused_unless(self.client.set_status(agent_id, status, reason=reason), "not changed")

    def pending_offers(self, agent_id: str) -> list[dict[str, str]]:
        """The agent's pending offers, with the fields of their ``offer.created`` events."""
        out = []
        with converted():
            for o in self.client.agent_offers(agent_id):
                r = self.client.request(o.request_id)
                if o.state is not OfferState.PENDING or r is None:
                    continue
                out.append(
                    {
                        "offer": o.id,
                        "request": o.request_id,
                        "session": o.session_id,
                        "channel": o.channel.value,
                        "service": r.service,
                        "user": r.user_id,
                        "callback": r.callback,
                        "deadline": str(o.deadline),
                    }
                )
        return out

    def offer_preview(self, session_id: str, user_id: str, channel: str) -> dict[str, Any]:
        """The customer's name and first message for an offer (see chat.customers)."""
        with converted():
            return offer_preview(self.customers, self.client, session_id, user_id, channel)

    def customer_context(self, session_id: str, user_id: str) -> dict[str, Any]:
        with converted():
            return customer_context(self.customers, self.client, session_id, user_id)

    def search_history(self, who: StaffPrincipal, user_id: str, query: str) -> list[dict]:
        """Search the customer's sessions; agents only for customers they serve now."""
        if not who.is_admin and not any(
            s.user_id == user_id for s in self.agent_sessions(who.account_id)
        ):
            raise Forbidden("you can search the history of customers you are serving only")
        with converted():
            return search_history(self.client, user_id, query)

    def _contact(self, agent_id: str, session_id: str, channel: str) -> str:
        with converted():
            for req in self.client.agent_contacts(agent_id):
                if req.session_id == session_id and req.channel.value == channel:
                    return req.id
        raise Forbidden(f"you have no {channel} contact in this session")

    def _require_serving(self, agent_id: str, session_id: str) -> Session:
        session = self.session(session_id)
        if not self.agent_serves(agent_id, session):
            raise Forbidden("you are not handling this session")
        return session

    # --- transcripts -----------------------------------------------------------------------
    def session(self, session_id: str) -> Session:
        with converted():
            session = self.client.session(session_id)
        if session is None:
            raise NotFoundError("no such session")
        return session

    def append(self, session_id: str, entry: dict[str, Any], cid: str) -> Appended:
        with converted():
            return self.client.append(session_id, entry, cmid=cid)

    def replay(self, session_id: str, after: str, for_customer_view: bool) -> list[dict[str, Any]]:
        """Every entry after stream id ``after``, oldest first (the customer's projection
        of it when ``for_customer_view``)."""
        out: list[dict[str, Any]] = []
        with converted():
            while True:
                page = self.client.transcript(session_id, after=after, count=REPLAY_PAGE)
                for entry in page:
                    named = self.names.named(entry)
                    shown = for_customer(named) if for_customer_view else named
                    if shown is not None:
                        out.append(shown)
                if len(page) < REPLAY_PAGE:
                    return out
                after = page[-1]["id"]

    def session_view(self, session_id: str) -> dict[str, Any]:
        """The session, its whole timeline and the customer's earlier sessions (staff)."""
        session = self.session(session_id)
        with converted():
            earlier = [s for s in self.client.history(session.user_id) if s.id != session.id]
        return {
            "session_id": session.id,
            "user_id": session.user_id,
            "service": session.service,
            "state": session.state,
            "owner": session.owner,
            "created": session.created,
            "disposition": session.disposition,
            "entries": self.replay(session_id, "0-0", for_customer_view=False),
            "customer": self.customer_context(session.id, session.user_id),
            "history": [
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
            ],
        }


def refused_unless(result: Result, doing: str) -> Result:
    """A refused router state change becomes :class:`Refused` with the router's reason."""
    if not result.ok:
        raise Refused(f"{doing}: {result.reason}")
    return result


@contextlib.contextmanager
def converted() -> Iterator[None]:
    """Router and Redis errors become chat errors at this boundary."""
    try:
        yield
    except ChatError:
        raise
    except NotFound as e:
        raise NotFoundError(str(e)) from e
    except StrategyError as e:
        raise BadInput(
            "the strategy was not loaded; fix these problems and retry",
            code="invalid_strategy",
            problems=list(e.problems),
        ) from e
    except InvalidInput as e:
        raise BadInput(str(e), code="rejected_by_router") from e
    except (RouterUnavailable, redis.RedisError) as e:
        raise Unavailable(f"the router's Redis is unavailable: {e}") from e
    except RouterError as e:
        raise BadInput(str(e), code="router_refused") from e
