"""The initial schema: sites, staff, staff sessions, conversations, messages, events.

Revision ID: 0001_initial
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "sites",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("allowed_origins", sa.Text, nullable=False, server_default="[]"),
        sa.Column("greeting", sa.Text, nullable=False),
        sa.Column("secret", sa.String(128), nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sites"),
        sa.UniqueConstraint("key", name="uq_sites_key"),
    )
    op.create_table(
        "staff",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("languages", sa.Text, nullable=False, server_default="[]"),
        sa.Column("max_chats", sa.Integer, nullable=False, server_default="3"),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_staff"),
        sa.UniqueConstraint("email", name="uq_staff_email"),
    )
    op.create_table(
        "staff_sessions",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("staff_id", sa.Integer, nullable=False),
        sa.Column("csrf_token", sa.String(128), nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("expires_at", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("token_hash", name="pk_staff_sessions"),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff.id"], name="fk_staff_sessions_staff_id_staff"
        ),
    )
    op.create_index("ix_staff_sessions_staff_id", "staff_sessions", ["staff_id"])
    op.create_table(
        "conversations",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("site_id", sa.Integer, nullable=False),
        sa.Column("visitor_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("language", sa.String(35), nullable=True),
        sa.Column("assignee_id", sa.Integer, nullable=True),
        sa.Column("ringing_staff_id", sa.Integer, nullable=True),
        sa.Column("last_seq", sa.Integer, nullable=False, server_default="0"),
        sa.Column("customer_read_seq", sa.Integer, nullable=False, server_default="0"),
        sa.Column("staff_read_seq", sa.Integer, nullable=False, server_default="0"),
        sa.Column("visitor_name", sa.String(200), nullable=True),
        sa.Column("page_url", sa.Text, nullable=True),
        sa.Column("page_title", sa.Text, nullable=True),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("queued_at", sa.Double, nullable=False),
        sa.Column("accepted_at", sa.Double, nullable=True),
        sa.Column("ended_at", sa.Double, nullable=True),
        sa.Column("ended_by", sa.String(16), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_conversations"),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name="fk_conversations_site_id_sites"),
        sa.ForeignKeyConstraint(
            ["assignee_id"], ["staff.id"], name="fk_conversations_assignee_id_staff"
        ),
    )
    op.create_index("ix_conversations_status_queued_at", "conversations", ["status", "queued_at"])
    op.create_index(
        "ix_conversations_site_id_visitor_id", "conversations", ["site_id", "visitor_id"]
    )
    op.create_index("ix_conversations_ended_at", "conversations", ["ended_at"])
    op.create_table(
        "messages",
        sa.Column("id", sa.Integer, nullable=False, autoincrement=True),
        sa.Column("conversation_id", sa.String(32), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("client_msg_id", sa.String(64), nullable=True),
        sa.Column("sender", sa.String(16), nullable=False),
        sa.Column("author_id", sa.Integer, nullable=True),
        sa.Column("author_name", sa.String(200), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_messages"),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name="fk_messages_conversation_id_conversations",
        ),
        sa.UniqueConstraint("conversation_id", "seq", name="uq_messages_conversation_id_seq"),
        sa.UniqueConstraint(
            "conversation_id", "client_msg_id", name="uq_messages_conversation_id_client_msg_id"
        ),
    )
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


def downgrade() -> None:
    op.drop_table("conversation_events")
    op.drop_table("messages")
    op.drop_table("conversations")
    op.drop_table("staff_sessions")
    op.drop_table("staff")
    op.drop_table("sites")
