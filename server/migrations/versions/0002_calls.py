"""Calls: a site can force relay-only ICE; system messages carry a detail (a call's channel,
duration and who ended it).

Revision ID: 0002_calls
Revises: 0001_initial
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_calls"
down_revision: str | None = "0001_initial"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column(
        "sites",
        sa.Column("relay_only", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.add_column("messages", sa.Column("detail", sa.Text, nullable=True))


def downgrade() -> None:
    op.drop_column("messages", "detail")
    op.drop_column("sites", "relay_only")
