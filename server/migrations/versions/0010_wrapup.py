"""The shift: wrap-up deadlines, the count of calls in a row and away reasons on the
presence row; the outcome tag on the conversation; the shift rules on the site.

Revision ID: 0010_wrapup
Revises: 0009_rating
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_wrapup"
down_revision: str | None = "0009_rating"
branch_labels: str | None = None
depends_on: str | None = None

_PRESENCE = (
    sa.Column("away_reason", sa.String(16), nullable=True),
    sa.Column("away_since", sa.Double, nullable=True),
    sa.Column("wrapup_until", sa.Double, nullable=True),
    sa.Column("wrapup_began", sa.Double, nullable=True),
    sa.Column("wrapup_conversation_id", sa.String(32), nullable=True),
    sa.Column("wrapup_pause", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("calls_in_row", sa.Integer, nullable=False, server_default="0"),
)


def upgrade() -> None:
    with op.batch_alter_table("staff_presence") as batch:
        for column in _PRESENCE:
            batch.add_column(column)
        batch.create_index("ix_staff_presence_wrapup_until", ["wrapup_until"])
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("outcome", sa.String(40), nullable=True))
    with op.batch_alter_table("sites") as batch:
        batch.add_column(sa.Column("shift", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sites") as batch:
        batch.drop_column("shift")
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("outcome")
    with op.batch_alter_table("staff_presence") as batch:
        batch.drop_index("ix_staff_presence_wrapup_until")
        for column in reversed(_PRESENCE):
            batch.drop_column(column.name)
