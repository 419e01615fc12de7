"""The first reports schema: meta, events, contacts, offers, sessions, agent_periods and
the slot rollups.

Revision ID: 0001
Revises:
Create Date: 2026-12-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ID = 128
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


def upgrade() -> None:
    op.create_table(
        "meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.String(40), primary_key=True, comment="stream entry id"),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("request", sa.String(ID)),
        sa.Column("offer", sa.String(ID)),
        sa.Column("session", sa.String(ID)),
        sa.Column("agent", sa.String(ID)),
        sa.Column("channel", sa.String(16)),
        sa.Column("detail", sa.Text, nullable=False, comment="JSON of the other kept fields"),
    )
    op.create_index("ix_events_at", "events", ["at"])
    op.create_index("ix_events_session", "events", ["session"])
    op.create_table(
        "contacts",
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
    )
    op.create_index("ix_contacts_created_at", "contacts", ["created_at"])
    op.create_index("ix_contacts_session_id", "contacts", ["session_id"])
    op.create_table(
        "offers",
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
    )
    op.create_index("ix_offers_created_at", "offers", ["created_at"])
    op.create_table(
        "sessions",
        sa.Column("session_id", sa.String(ID), primary_key=True),
        sa.Column("service", sa.String(ID), nullable=False),
        sa.Column("user_key", sa.String(64), comment="keyed hash of the user id; NULL once erased"),
        sa.Column("opened_at", sa.BigInteger, nullable=False),
        sa.Column("closed_at", sa.BigInteger),
        sa.Column("disposition", sa.String(200), nullable=False),
        sa.Column("closed_by", sa.String(ID), nullable=False),
    )
    op.create_index("ix_sessions_user_key", "sessions", ["user_key"])
    op.create_index("ix_sessions_opened_at", "sessions", ["opened_at"])
    op.create_table(
        "agent_periods",
        sa.Column("id", sa.String(40), primary_key=True, comment="id of the event that opened it"),
        sa.Column("agent", sa.String(ID), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("start_at", sa.BigInteger, nullable=False),
        sa.Column("end_at", sa.BigInteger, comment="NULL while the agent is still in it"),
    )
    op.create_index("ix_agent_periods_agent_end", "agent_periods", ["agent", "end_at"])
    op.create_index("ix_agent_periods_start_at", "agent_periods", ["start_at"])
    op.create_table(
        "contact_slots",
        sa.Column("slot_at", sa.BigInteger, primary_key=True, comment="UTC quarter hour (ms)"),
        sa.Column("dimension", sa.String(16), primary_key=True, comment="queue, channel, service"),
        sa.Column("key", sa.String(ID), primary_key=True),
        *[sa.Column(n, sa.BigInteger, nullable=False) for n in CONTACT_SUMS],
        comment="running sums of the contacts created in each slot, per queue/channel/service",
    )
    op.create_table(
        "agent_slots",
        sa.Column("slot_at", sa.BigInteger, primary_key=True, comment="UTC quarter hour (ms)"),
        sa.Column("agent", sa.String(ID), primary_key=True),
        *[sa.Column(n, sa.BigInteger, nullable=False) for n in AGENT_SUMS],
        comment="offers made in each slot, contacts answered in it, per agent",
    )


def downgrade() -> None:
    for table in (
        "agent_slots",
        "contact_slots",
        "agent_periods",
        "sessions",
        "offers",
        "contacts",
        "events",
        "meta",
    ):
        op.drop_table(table)
