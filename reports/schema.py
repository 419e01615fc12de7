"""The reports database's tables (SQLAlchemy Core). Alembic migrations create them.

Times are milliseconds since the epoch (UTC), as the router's events carry them. No table
holds a customer's number, name or message text: sessions keep only a keyed hash of the
user id (``user_key``), which ``implus reports erase --user`` removes.

=================  ==========================================================================
table              one row per
=================  ==========================================================================
meta               setting of the database (routing domain, last stream id, last prune...)
events             entry of the router's ``events`` stream (personal fields left out)
contacts           routing request: when it came, where it queued, who answered, how it ended
offers             offer of a request to an agent and how it ended
sessions           session: service, opened/closed, disposition
agent_periods      stretch of time an agent spent in one status (available / away / offline)
contact_slots      15-minute slot and queue / channel / service: running sums of its contacts
agent_slots        15-minute slot and agent: running sums of the agent's offers and contacts
=================  ==========================================================================
"""

from __future__ import annotations

import sqlalchemy as sa

ID = 128
"""Longest id the router accepts (router.client.MAX_ID)."""

metadata = sa.MetaData()

meta = sa.Table(
    "meta",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True, comment="stream entry id"),
    sa.Column("at", sa.BigInteger, nullable=False),
    sa.Column("type", sa.String(40), nullable=False),
    sa.Column("request", sa.String(ID)),
    sa.Column("offer", sa.String(ID)),
    sa.Column("session", sa.String(ID)),
    sa.Column("agent", sa.String(ID)),
    sa.Column("channel", sa.String(16)),
    sa.Column("detail", sa.Text, nullable=False, comment="JSON of the other kept fields"),
    sa.Index("ix_events_at", "at"),
    sa.Index("ix_events_session", "session"),
)

contacts = sa.Table(
    "contacts",
    metadata,
    sa.Column("request_id", sa.String(ID), primary_key=True),
    sa.Column("session_id", sa.String(ID), nullable=False),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("service", sa.String(ID), nullable=False),
    sa.Column("queue", sa.String(ID), nullable=False, comment="'' when it never queued"),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("first_offer_at", sa.BigInteger),
    sa.Column("offers", sa.Integer, nullable=False),
    sa.Column("no_answers", sa.Integer, nullable=False),
    sa.Column("rejects", sa.Integer, nullable=False),
    sa.Column("accepted_at", sa.BigInteger),
    sa.Column("agent", sa.String(ID), comment="who answered"),
    sa.Column("wait_ms", sa.BigInteger, comment="until answered, abandoned or overflowed"),
    sa.Column("sl_target_ms", sa.BigInteger, comment="the queue's target when answered"),
    sa.Column("in_sl", sa.SmallInteger, nullable=False, comment="answered within it (1/0)"),
    sa.Column("ended_at", sa.BigInteger),
    sa.Column(
        "outcome",
        sa.String(16),
        nullable=False,
        comment="waiting, answered, abandoned or overflowed",
    ),
    sa.Column("end_reason", sa.String(200), nullable=False),
    sa.Column("handle_ms", sa.BigInteger),
    sa.Column("wrapup_ms", sa.BigInteger),
    sa.Column("transferred_out", sa.SmallInteger, nullable=False),
    sa.Column("transferred_from", sa.String(ID), nullable=False),
    sa.Index("ix_contacts_created_at", "created_at"),
    sa.Index("ix_contacts_session_id", "session_id"),
)

offers = sa.Table(
    "offers",
    metadata,
    sa.Column("offer_id", sa.String(ID), primary_key=True),
    sa.Column("request_id", sa.String(ID), nullable=False),
    sa.Column("session_id", sa.String(ID), nullable=False),
    sa.Column("agent", sa.String(ID), nullable=False),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("ended_at", sa.BigInteger),
    sa.Column(
        "outcome",
        sa.String(16),
        nullable=False,
        comment="pending, accepted, rejected, timeout, failed or rescinded",
    ),
    sa.Column("reason", sa.String(200), nullable=False),
    sa.Index("ix_offers_created_at", "created_at"),
)

sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("session_id", sa.String(ID), primary_key=True),
    sa.Column("service", sa.String(ID), nullable=False),
    sa.Column("user_key", sa.String(64), comment="keyed hash of the user id; NULL once erased"),
    sa.Column("opened_at", sa.BigInteger, nullable=False),
    sa.Column("closed_at", sa.BigInteger),
    sa.Column("disposition", sa.String(200), nullable=False),
    sa.Column("closed_by", sa.String(ID), nullable=False),
    sa.Index("ix_sessions_user_key", "user_key"),
    sa.Index("ix_sessions_opened_at", "opened_at"),
)

agent_periods = sa.Table(
    "agent_periods",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True, comment="id of the event that opened it"),
    sa.Column("agent", sa.String(ID), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("reason", sa.String(200), nullable=False),
    sa.Column("start_at", sa.BigInteger, nullable=False),
    sa.Column("end_at", sa.BigInteger, comment="NULL while the agent is still in it"),
    sa.Index("ix_agent_periods_agent_end", "agent", "end_at"),
    sa.Index("ix_agent_periods_start_at", "start_at"),
)


def _sums(names: tuple[str, ...]) -> list[sa.Column[int]]:
    return [sa.Column(n, sa.BigInteger, nullable=False) for n in names]


CONTACT_SUMS = (
    "offered",
    "answered",
    "abandoned",
    "overflowed",
    "answered_in_sl",
    "transfers",
    "no_answers",
    "answer_wait_ms",
    "abandon_wait_ms",
    "max_abandon_ms",
    "handled",
    "handle_ms",
    "wrapped",
    "wrapup_ms",
)
AGENT_SUMS = (
    "offers",
    "answered",
    "rejected",
    "no_answers",
    "handled",
    "handle_ms",
    "wrapped",
    "wrapup_ms",
    "transfers",
)

contact_slots = sa.Table(
    "contact_slots",
    metadata,
    sa.Column("slot_at", sa.BigInteger, primary_key=True, comment="UTC quarter hour (ms)"),
    sa.Column("dimension", sa.String(16), primary_key=True, comment="queue, channel, service"),
    sa.Column("key", sa.String(ID), primary_key=True),
    *_sums(CONTACT_SUMS),
    comment="running sums of the contacts created in each slot, per queue/channel/service",
)

agent_slots = sa.Table(
    "agent_slots",
    metadata,
    sa.Column("slot_at", sa.BigInteger, primary_key=True, comment="UTC quarter hour (ms)"),
    sa.Column("agent", sa.String(ID), primary_key=True),
    *_sums(AGENT_SUMS),
    comment="offers made in each slot, contacts answered in it, per agent",
)

SLOT_TABLES = {"contact_slots": contact_slots, "agent_slots": agent_slots}

ROW_TABLES = {
    "contacts": contacts,
    "offers": offers,
    "sessions": sessions,
    "agent_periods": agent_periods,
}
"""The tables the sink keeps one row per thing in (keyed by their one primary key)."""


def key_of(table: sa.Table) -> str:
    """The name of ``table``'s single-column primary key."""
    (column,) = table.primary_key.columns
    return str(column.name)
