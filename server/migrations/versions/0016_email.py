"""Email and staff administration: the durable email outbox, single-use staff links
(invitations and password resets, stored as digests), each staff member's call capacity and
console language, and their photos.

Revision ID: 0016_email
Revises: 0015_hours
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016_email"
down_revision: str | None = "0015_hours"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "emails",
        sa.Column("id", sa.Integer, nullable=False, autoincrement=True),
        sa.Column("message_id", sa.String(200), nullable=False),
        sa.Column("recipient", sa.String(320), nullable=False),
        sa.Column("template", sa.String(64), nullable=False),
        sa.Column("language", sa.String(35), nullable=False),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("text_body", sa.Text, nullable=False),
        sa.Column("html_body", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.Double, nullable=False),
        sa.Column("lease_until", sa.Double, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("sent_at", sa.Double, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_emails"),
        sa.UniqueConstraint("message_id", name="uq_emails_message_id"),
    )
    op.create_index("ix_emails_status_next_attempt_at", "emails", ["status", "next_attempt_at"])
    op.create_table(
        "staff_links",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("staff_id", sa.Integer, nullable=False),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("expires_at", sa.Double, nullable=False),
        sa.Column("used_at", sa.Double, nullable=True),
        sa.PrimaryKeyConstraint("token_hash", name="pk_staff_links"),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], name="fk_staff_links_staff_id_staff"),
    )
    op.create_index("ix_staff_links_staff_id", "staff_links", ["staff_id"])
    op.create_table(
        "staff_photos",
        sa.Column("staff_id", sa.Integer, nullable=False),
        sa.Column("content_type", sa.String(32), nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("staff_id", name="pk_staff_photos"),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], name="fk_staff_photos_staff_id_staff"),
    )
    with op.batch_alter_table("staff") as batch:
        batch.add_column(sa.Column("max_calls", sa.Integer, nullable=False, server_default="1"))
        batch.add_column(
            sa.Column("console_language", sa.String(35), nullable=False, server_default="en")
        )


def downgrade() -> None:
    with op.batch_alter_table("staff") as batch:
        batch.drop_column("console_language")
        batch.drop_column("max_calls")
    op.drop_table("staff_photos")
    op.drop_index("ix_staff_links_staff_id", table_name="staff_links")
    op.drop_table("staff_links")
    op.drop_index("ix_emails_status_next_attempt_at", table_name="emails")
    op.drop_table("emails")
