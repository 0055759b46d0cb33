"""The domain's event log: ``conversation_events`` becomes ``events``, with the actor, and
events that concern no conversation (a staff member's presence). Old rows keep their meaning
under the catalogue's names.

Revision ID: 0006_event_log
Revises: 0005_routing_state
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_event_log"
down_revision: str | None = "0005_routing_state"
branch_labels: str | None = None
depends_on: str | None = None

# Routing's old words → the catalogue's kinds (signaling.domain_events.EventKind).
RENAMED = {
    "created": "conversation.queued",
    "rung": "conversation.rung",
    "accepted": "conversation.accepted",
    "declined": "conversation.declined",
    "missed": "conversation.missed",
    "abandoned": "conversation.abandoned",
    "requeued": "conversation.requeued",
    "ended": "conversation.ended",
    "call_started": "call.started",
    "call_ended": "call.ended",
}


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.Integer, nullable=False, autoincrement=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("conversation_id", sa.String(32), nullable=True),
        sa.Column("actor", sa.String(16), nullable=False),
        sa.Column("staff_id", sa.Integer, nullable=True),
        sa.Column("detail", sa.Text, nullable=True),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name="fk_events_conversation_id_conversations",
        ),
    )
    op.create_index("ix_events_conversation_id", "events", ["conversation_id"])
    op.create_index("ix_events_created_at", "events", ["created_at"])
    kind = sa.case(
        *((sa.column("kind") == old, sa.literal(new)) for old, new in RENAMED.items()),
        else_=sa.column("kind"),
    )
    old = sa.table(
        "conversation_events",
        sa.column("id"),
        sa.column("conversation_id"),
        sa.column("kind"),
        sa.column("staff_id"),
        sa.column("detail"),
        sa.column("created_at"),
    )
    op.execute(
        sa.insert(
            sa.table(
                "events",
                sa.column("kind"),
                sa.column("conversation_id"),
                sa.column("actor"),
                sa.column("staff_id"),
                sa.column("detail"),
                sa.column("created_at"),
            )
        ).from_select(
            ["kind", "conversation_id", "actor", "staff_id", "detail", "created_at"],
            sa.select(
                kind,
                old.c.conversation_id,
                sa.literal("system"),
                old.c.staff_id,
                old.c.detail,
                old.c.created_at,
            ).order_by(old.c.id),
        )
    )
    op.drop_table("conversation_events")


def downgrade() -> None:
    # The old table knew only conversation events under the old words: the log is not
    # carried back.
    op.create_table(
        "conversation_events",
        sa.Column("id", sa.Integer, nullable=False, autoincrement=True),
        sa.Column("conversation_id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("staff_id", sa.Integer, nullable=True),
        sa.Column("detail", sa.Text, nullable=True),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_conversation_events"),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name="fk_conversation_events_conversation_id_conversations",
        ),
    )
    op.create_index(
        "ix_conversation_events_conversation_id", "conversation_events", ["conversation_id"]
    )
    op.drop_table("events")
