"""Conversations: a version, bumped by every change of the row, that orders the views clients
receive (an older view arriving late is ignored).

Revision ID: 0003_conversation_version
Revises: 0002_calls
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_conversation_version"
down_revision: str | None = "0002_calls"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column(
        "conversations",
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    )


def downgrade() -> None:
    # batch mode: SQLite rebuilds the table to drop a column.
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("version")
