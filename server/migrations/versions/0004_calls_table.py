"""Calls and call proposals get their own tables, with "one running call per conversation"
and "one running call per staff member" as partial unique indexes. Calls running at the
upgrade are carried over from the transcript, the last time it is read for them.

Revision ID: 0004_calls_table
Revises: 0003_conversation_version
Create Date: 2026-12-04
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0004_calls_table"
down_revision: str | None = "0003_conversation_version"
branch_labels: str | None = None
depends_on: str | None = None

RUNNING = sa.text("ended_at IS NULL")
OPEN = sa.text("answer IS NULL")


def upgrade() -> None:
    op.create_table(
        "calls",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("conversation_id", sa.String(32), nullable=False),
        sa.Column("staff_id", sa.Integer, nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("started_by", sa.String(16), nullable=False),
        sa.Column("started_at", sa.Double, nullable=False),
        sa.Column("ended_at", sa.Double, nullable=True),
        sa.Column("ended_by", sa.String(16), nullable=True),
        sa.Column("end_reason", sa.String(32), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_calls"),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name="fk_calls_conversation_id_conversations",
        ),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], name="fk_calls_staff_id_staff"),
    )
    op.create_index(
        "ix_calls_conversation_id_started_at", "calls", ["conversation_id", "started_at"]
    )
    op.create_index(
        "uq_calls_running_conversation",
        "calls",
        ["conversation_id"],
        unique=True,
        sqlite_where=RUNNING,
        postgresql_where=RUNNING,
    )
    op.create_index(
        "uq_calls_running_staff",
        "calls",
        ["staff_id"],
        unique=True,
        sqlite_where=RUNNING,
        postgresql_where=RUNNING,
    )
    op.create_table(
        "call_proposals",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("conversation_id", sa.String(32), nullable=False),
        sa.Column("staff_id", sa.Integer, nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("proposed_at", sa.Double, nullable=False),
        sa.Column("answered_at", sa.Double, nullable=True),
        sa.Column("answer", sa.String(16), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_call_proposals"),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name="fk_call_proposals_conversation_id_conversations",
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff.id"], name="fk_call_proposals_staff_id_staff"
        ),
    )
    op.create_index(
        "ix_call_proposals_conversation_id_proposed_at",
        "call_proposals",
        ["conversation_id", "proposed_at"],
    )
    op.create_index(
        "uq_call_proposals_open",
        "call_proposals",
        ["conversation_id"],
        unique=True,
        sqlite_where=OPEN,
        postgresql_where=OPEN,
    )
    _carry_over_running_calls()


def _carry_over_running_calls() -> None:
    """A call runs where an active conversation's newest call note is a ``call_started``
    (what the server used to rebuild from at every start). Its media never went through the
    server, so it carries on across the upgrade; from here on the row is the truth."""
    bind = op.get_bind()
    candidates = bind.execute(
        sa.text(
            "SELECT id, assignee_id FROM conversations"
            " WHERE status = 'active' AND assignee_id IS NOT NULL AND channel != 'chat'"
        )
    ).all()
    running = []
    for conversation_id, staff_id in candidates:
        note = bind.execute(
            sa.text(
                "SELECT body, detail, created_at FROM messages"
                " WHERE conversation_id = :conversation_id AND kind = 'system'"
                " AND body IN ('call_started', 'call_ended') AND detail IS NOT NULL"
                " ORDER BY seq DESC LIMIT 1"
            ),
            {"conversation_id": conversation_id},
        ).first()
        if note is None or note.body != "call_started":
            continue
        detail = json.loads(note.detail)
        running.append(
            {
                "id": str(detail["call_id"]),
                "conversation_id": conversation_id,
                "staff_id": staff_id,
                "channel": detail["channel"],
                "started_by": detail["started_by"],
                "started_at": note.created_at,
            }
        )
    # Newest first: should the transcripts disagree, a staff member keeps their latest call.
    busy: set[int] = set()
    for call in sorted(running, key=lambda c: c["started_at"], reverse=True):
        if call["staff_id"] in busy:
            continue
        busy.add(call["staff_id"])
        bind.execute(
            sa.text(
                "INSERT INTO calls (id, conversation_id, staff_id, channel, started_by,"
                " started_at) VALUES (:id, :conversation_id, :staff_id, :channel,"
                " :started_by, :started_at)"
            ),
            call,
        )


def downgrade() -> None:
    op.drop_table("call_proposals")
    op.drop_table("calls")
