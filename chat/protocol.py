"""Websocket frames: what clients may send (validated models) and what we send back.

Every client frame is a JSON object with a ``type``. Frames are parsed once at the edge
into frozen pydantic models; anything else gets an ``error`` frame naming what was wrong,
and the connection stays open. Server frames are built by the small functions at the end
so their shapes live in one place.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from chat import safe_json
from chat.errors import BadInput

CID = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]
"""Client message id: the client's idempotency key for one thing it sends."""
ENTRY_ID = Annotated[str, Field(max_length=40, pattern=r"^[0-9]+-[0-9]+$")]
"""A transcript (Redis stream) entry id."""
ID = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:@+-]+$")]
PHONE = Annotated[str, Field(min_length=3, max_length=24, pattern=r"^\+?[0-9][0-9 ()-]{2,22}$")]
REASON = Annotated[str, Field(max_length=200)]


class Frame(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FileRef(Frame):
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class Hello(Frame):
    """First frame after connecting: ``after`` is the last transcript entry the client
    holds (for a customer) so everything later is replayed."""

    type: Literal["hello"]
    after: ENTRY_ID | None = None


class Visit(Frame):
    """Where the customer is chatting from, as the widget sees it (shown to agents)."""

    page: Annotated[str, Field(max_length=2000)] = ""
    title: Annotated[str, Field(max_length=300)] = ""
    referrer: Annotated[str, Field(max_length=2000)] = ""
    browser: Annotated[str, Field(max_length=500)] = ""
    language: Annotated[str, Field(max_length=35)] = ""


class CustomerHello(Hello):
    """A customer's hello may say where the chat is opened from (``visit``)."""

    visit: Visit | None = None


class Ping(Frame):
    type: Literal["ping"]


class Heartbeat(Frame):
    type: Literal["heartbeat"]


class CustomerMessage(Frame):
    type: Literal["message"]
    cid: CID
    text: str = Field(default="", max_length=100_000)
    file: FileRef | None = None


class CustomerTyping(Frame):
    type: Literal["typing"]
    on: bool


class CustomerSeen(Frame):
    """The customer's page has shown everything up to ``id`` (a read receipt)."""

    type: Literal["seen"]
    id: ENTRY_ID


class CallMe(Frame):
    """Ask for a phone callback in the same session."""

    type: Literal["call_me"]
    cid: CID
    number: PHONE


CustomerFrame = Annotated[
    CustomerHello | Ping | CustomerMessage | CustomerTyping | CustomerSeen | CallMe,
    Field(discriminator="type"),
]


class SetStatus(Frame):
    type: Literal["status"]
    status: Literal["available", "away", "offline"]
    reason: REASON = ""


class OfferAnswer(Frame):
    type: Literal["accept", "reject"]
    offer_id: ID


class OpenSession(Frame):
    type: Literal["open"]
    session_id: ID


class Reply(Frame):
    """A message to the customer (``reply``) or an internal note (``note``)."""

    type: Literal["reply", "note"]
    session_id: ID
    cid: CID
    text: str = Field(default="", max_length=100_000)
    file: FileRef | None = None


class AgentTyping(Frame):
    type: Literal["typing"]
    session_id: ID
    on: bool


class AgentSeen(Frame):
    type: Literal["seen"]
    session_id: ID
    id: ENTRY_ID


class Transfer(Frame):
    type: Literal["transfer"]
    session_id: ID
    queue: ID | None = None
    agent_id: ID | None = None


class EndChat(Frame):
    """End the agent's chat contact (frees the slot) but leave the session open."""

    type: Literal["end"]
    session_id: ID


class CloseSession(Frame):
    type: Literal["close"]
    session_id: ID
    disposition: Annotated[str, Field(min_length=1, max_length=64)]


class ClickToCall(Frame):
    type: Literal["call"]
    session_id: ID
    number: PHONE


AgentFrame = Annotated[
    Hello
    | Ping
    | Heartbeat
    | SetStatus
    | OfferAnswer
    | OpenSession
    | Reply
    | AgentTyping
    | AgentSeen
    | Transfer
    | EndChat
    | CloseSession
    | ClickToCall,
    Field(discriminator="type"),
]

CUSTOMER_FRAMES: TypeAdapter[Any] = TypeAdapter(CustomerFrame)
AGENT_FRAMES: TypeAdapter[Any] = TypeAdapter(AgentFrame)


def parse(adapter: TypeAdapter[Any], raw: str | bytes, max_bytes: int) -> Any:
    """One client frame as a model, or BadInput whose message says what to fix."""
    if isinstance(raw, bytes):
        raise BadInput("send JSON text frames, not binary frames", code="binary_frame")
    if len(raw) > max_bytes:
        raise BadInput(
            f"frame is {len(raw)} characters; the limit is {max_bytes} (send files by upload)",
            code="frame_too_large",
        )
    try:
        return adapter.validate_json(raw)
    except ValidationError as e:
        raise BadInput(_describe(e), code="invalid_frame") from None


def _describe(e: ValidationError) -> str:
    parts = []
    for err in e.errors(include_url=False, include_input=False)[:3]:
        loc = ".".join(str(x) for x in err["loc"]) or "frame"
        if err["type"] == "json_invalid" and safe_json.is_too_deep(err["msg"]):
            return f"frame is not usable: {safe_json.TOO_DEEP}"
        if err["type"] == "json_invalid":
            return "frame is not valid JSON: send one JSON object per text frame"
        if err["type"] == "union_tag_invalid":
            return f"unknown frame type; expected one of {err['ctx']['expected_tags']}"
        if err["type"] == "union_tag_not_found":
            return 'frame needs a "type" field'
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def check_content(text: str, has_file: bool, max_chars: int) -> str:
    """Normalise a message text and enforce the length limit (files may go without text)."""
    text = text.strip()
    if not text and not has_file:
        raise BadInput("a message needs text or a file", code="empty_message")
    if len(text) > max_chars:
        raise BadInput(
            f"message has {len(text)} characters; the limit is {max_chars}",
            code="message_too_long",
        )
    return text


def dumps(frame: dict[str, Any]) -> str:
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False)


def error(code: str, message: str, ref: str | None = None) -> dict[str, Any]:
    """An error frame: ``ref`` is the client's cid when the error is about one frame."""
    out: dict[str, Any] = {"type": "error", "code": code, "message": message}
    if ref:
        out["ref"] = ref
    return out


def ack(cid: str, entry_id: str, session_id: str, duplicate: bool) -> dict[str, Any]:
    """The server stored what the client sent under ``cid`` as transcript entry ``entry_id``."""
    return {"type": "ack", "cid": cid, "id": entry_id, "session_id": session_id, "dup": duplicate}


def entry(session_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """A transcript entry (``body`` carries its ``id``, ``type`` and ``at``)."""
    return {"type": "entry", "session_id": session_id, "id": body["id"], "entry": body}


SupervisorFrame = Annotated[Hello | Ping, Field(discriminator="type")]
SUPERVISOR_FRAMES: TypeAdapter[Any] = TypeAdapter(SupervisorFrame)
