"""Analytics: a row of figures per conversation (``conversation_stats``) and its outcome
tags, kept in step with the event log and filled here from the log already stored; and an
index on the log by kind and time, for missed rings per staff member.

Revision ID: 0011_analytics
Revises: 0007_assignee_index
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_analytics"
down_revision: str | None = "0007_assignee_index"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "conversation_stats",
        sa.Column("conversation_id", sa.String(32), nullable=False),
        sa.Column("site_id", sa.Integer, nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("queued_at", sa.Double, nullable=False),
        sa.Column("answered_at", sa.Double, nullable=True),
        sa.Column("agent_id", sa.Integer, nullable=True),
        sa.Column("wait_s", sa.Double, nullable=True),
        sa.Column("ended_at", sa.Double, nullable=True),
        sa.Column("handle_s", sa.Double, nullable=True),
        sa.Column("abandoned", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("missed", sa.Integer, nullable=False, server_default="0"),
        sa.Column("declined", sa.Integer, nullable=False, server_default="0"),
        sa.Column("requeued", sa.Integer, nullable=False, server_default="0"),
        sa.Column("transfers", sa.Integer, nullable=False, server_default="0"),
        sa.Column("rating", sa.Integer, nullable=True),
        sa.PrimaryKeyConstraint("conversation_id", name="pk_conversation_stats"),
    )
    # Covers every column the reports read (server.tables.REPORT_COLUMNS).
    op.create_index(
        "ix_conversation_stats_report",
        "conversation_stats",
        [
            "queued_at",
            "site_id",
            "agent_id",
            "channel",
            "wait_s",
            "handle_s",
            "abandoned",
            "transfers",
            "rating",
            "answered_at",
        ],
    )
    op.create_table(
        "conversation_tags",
        sa.Column("conversation_id", sa.String(32), nullable=False),
        sa.Column("tag", sa.String(64), nullable=False),
        sa.Column("site_id", sa.Integer, nullable=False),
        sa.Column("queued_at", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("conversation_id", "tag", name="pk_conversation_tags"),
    )
    op.create_index("ix_conversation_tags_queued_at", "conversation_tags", ["queued_at"])
    op.create_index("ix_events_kind_created_at", "events", ["kind", "created_at"])
    # The log already stored becomes figures (the same code keeps them in step from now on).
    from server.analytics_facts import rebuild

    rebuild(op.get_bind())


def downgrade() -> None:
    op.drop_index("ix_events_kind_created_at", table_name="events")
    op.drop_table("conversation_tags")
    op.drop_table("conversation_stats")
