"""Call control from the chat service: the agent's call buttons, the supervisor's listen /
whisper / barge, the recordings in a session's timeline, and what the pickers list.

Who may do what is checked twice: here (an agent must be handling the session; listening
in is for supervisors, i.e. admins) and atomically by the router's script
(`router/control.py`: only the agent on the call, or a supervisor). The PBX bridge carries
the command out and writes the outcome into the transcript (docs/call-flow.md).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from chat.errors import BadInput, Forbidden, NotFoundError, Refused
from chat.recordings import RecordingStore
from chat.service import ChatService, converted
from chat.tokens import StaffPrincipal
from router import control as router_control
from router.client import RouterClient
from router.control import Controlled
from router.model import Channel

HANDLED = ("assigned", "call.answered", "call.transferred", "call.control")
"""Transcript entries that name the agents who handled a session's calls."""


class CallService:
    """Call control, listening in and recordings on the router. Stateless."""

    def __init__(self, client: RouterClient, service: ChatService, store: RecordingStore) -> None:
        self.client = client
        self.service = service
        self.store = store

    def control(
        self, who: StaffPrincipal, session_id: str, action: str, target_kind: str, target: str
    ) -> Controlled:
        """Ask the PBX to act on the session's live call; the router's acceptance."""
        self.service.check_staff_access(who, session_id)
        with converted():
            done = self.client.run(
                router_control.call_control(
                    self.client.ops,
                    session_id,
                    action,
                    who.account_id,
                    supervisor=who.is_admin,
                    target_kind=target_kind,
                    target=target,
                )
            )
        return _accepted(done, "the call is handled by another agent")

    def supervise(self, who: StaffPrincipal, session_id: str, mode: str) -> Controlled:
        """A supervisor listens in on (or leaves) the session's live call."""
        if not who.is_admin:
            raise Forbidden("listening in is for supervisors")
        known = self.store.supervisors
        if known is not None and who.account_id not in known and mode != "stop":
            raise BadInput(
                f"supervisor {who.account_id!r} has no phone: add them under supervisors: in "
                "the admin YAML (docs/admin-config.md)",
                code="no_phone",
            )
        self.service.session(session_id)
        with converted():
            done = self.client.run(
                router_control.supervise(self.client.ops, session_id, who.account_id, mode)
            )
        return _accepted(done, "")

    def recording(self, who: StaffPrincipal, session_id: str, entry_id: str) -> Path:
        """The file of a session's recording (transcript entry `entry_id`): for the
        supervisors and the agents who handled the session, never for customers."""
        session = self.service.check_staff_access(who, session_id)
        entries = self.service.replay(session_id, "0-0", for_customer_view=False)
        if not who.is_admin and session.owner != who.account_id:
            handled = {e.get("agent") or e.get("by") for e in entries if e.get("type") in HANDLED}
            if who.account_id not in handled:
                raise Forbidden("only the agents who handled this call and supervisors may hear it")
        entry = next((e for e in entries if e.get("id") == entry_id), None)
        if entry is None or entry.get("type") != "call.recording" or not entry.get("file"):
            raise NotFoundError("no such recording in this session")
        return self.store.locate(str(entry.get("pbx", "")), str(entry["file"]))

    def live_calls(self) -> list[dict[str, Any]]:
        """Calls connected to an agent now (for the supervisor page)."""
        out = []
        with converted():
            for agent in self.client.agents():
                for r in self.client.agent_contacts(agent.id):
                    if r.channel is Channel.CHAT or not r.call_id:
                        continue
                    out.append(
                        {
                            "session_id": r.session_id,
                            "request_id": r.id,
                            "agent": agent.id,
                            "agent_name": agent.profile.name,
                            "user": r.user_id,
                            "service": r.service,
                            "channel": r.channel.value,
                            "pbx": r.pbx,
                            "since": r.accepted_at,
                        }
                    )
        return sorted(out, key=lambda c: int(c["since"]))

    def transfer_targets(self, who: StaffPrincipal) -> dict[str, Any]:
        """The queues of the routing strategy and the other agents, for the transfer picker."""
        from chat.admin import agent_summary

        with converted():
            queues = sorted(self.client.strategy().queue_names)
            agents = self.client.agents()
        now = int(time.time() * 1000)
        return {
            "queues": queues,
            "agents": [
                {k: v for k, v in agent_summary(a, now).items() if k in ("id", "name", "status")}
                for a in agents
                if a.id != who.account_id
            ],
        }


def _accepted(done: Controlled, forbidden_reason: str) -> Controlled:
    if done.ok:
        return done
    if forbidden_reason and done.reason == forbidden_reason:
        raise Forbidden(done.reason)
    raise Refused(done.reason)
