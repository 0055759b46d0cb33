"""Analytics: a row of figures per conversation (``conversation_stats``), its outcome tags
and its missed rings, kept in step with the event log and filled here from the log already
stored.

Revision ID: 0014_analytics
Revises: 0013_audit
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_analytics"
down_revision: str | None = "0013_audit"
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
    op.create_table(
        "missed_rings",
        sa.Column("id", sa.Integer, nullable=False, autoincrement=True),
        sa.Column("conversation_id", sa.String(32), nullable=False),
        sa.Column("staff_id", sa.Integer, nullable=True),
        sa.Column("site_id", sa.Integer, nullable=False),
        sa.Column("rang_at", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_missed_rings"),
    )
    op.create_index("ix_missed_rings_conversation_id", "missed_rings", ["conversation_id"])
    op.create_index(
        "ix_missed_rings_rang_at_site_id_staff_id",
        "missed_rings",
        ["rang_at", "site_id", "staff_id"],
    )
    # The log already stored becomes figures (the same code keeps them in step from now on).
    from server.analytics_facts import rebuild

    rebuild(op.get_bind())


def downgrade() -> None:
    op.drop_table("missed_rings")
    op.drop_table("conversation_tags")
    op.drop_table("conversation_stats")
