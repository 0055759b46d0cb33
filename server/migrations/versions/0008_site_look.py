"""Site settings a site owner changes in the console: the channels offered, the widget's look,
where the snippet was last seen working, and soft deletion (a deleted site's key never comes
back, and its conversations stay until retention removes them).

Revision ID: 0008_site_look
Revises: 0007_assignee_index
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_site_look"
down_revision: str | None = "0007_assignee_index"
branch_labels: str | None = None
depends_on: str | None = None

ALL_CHANNELS = '["chat","voice","video","oneway"]'


def upgrade() -> None:
    with op.batch_alter_table("sites") as batch:
        batch.add_column(
            sa.Column("channels", sa.Text, nullable=False, server_default=ALL_CHANNELS)
        )
        batch.add_column(
            sa.Column("brand_color", sa.String(7), nullable=False, server_default="#1f3a5f")
        )
        batch.add_column(
            sa.Column("launcher_position", sa.String(8), nullable=False, server_default="right")
        )
        batch.add_column(
            sa.Column(
                "launcher_text", sa.String(80), nullable=False, server_default="Talk to a person"
            )
        )
        batch.add_column(
            sa.Column("show_staff", sa.Boolean, nullable=False, server_default=sa.true())
        )
        batch.add_column(sa.Column("seen_origin", sa.String(300), nullable=True))
        batch.add_column(sa.Column("seen_at", sa.Double, nullable=True))
        batch.add_column(sa.Column("deleted_at", sa.Double, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sites") as batch:
        for column in (
            "deleted_at",
            "seen_at",
            "seen_origin",
            "show_staff",
            "launcher_text",
            "launcher_position",
            "brand_color",
            "channels",
        ):
            batch.drop_column(column)
