"""Business hours per site and the offline path: ``site_hours``; on conversations, a message
left for later (``offline_at``, ``customer_email``) and the customer gone
(``customer_left_at``).

Revision ID: 0015_hours
Revises: 0014_analytics
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_hours"
down_revision: str | None = "0014_analytics"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "site_hours",
        sa.Column("site_id", sa.Integer, nullable=False),
        sa.Column("hours", sa.Text, nullable=True),
        sa.Column("offline", sa.String(16), nullable=False, server_default="message"),
        sa.Column("queue_timeout", sa.Integer, nullable=True),
        sa.Column("updated_at", sa.Double, nullable=False),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name="fk_site_hours_site_id_sites"),
        sa.PrimaryKeyConstraint("site_id", name="pk_site_hours"),
    )
    # Nullable columns: a plain ADD COLUMN on both databases, no table rebuild.
    op.add_column("conversations", sa.Column("offline_at", sa.Double, nullable=True))
    op.add_column("conversations", sa.Column("customer_email", sa.String(254), nullable=True))
    op.add_column("conversations", sa.Column("customer_left_at", sa.Double, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("customer_left_at")
        batch.drop_column("customer_email")
        batch.drop_column("offline_at")
    op.drop_table("site_hours")
