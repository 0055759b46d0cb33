"""The customer's rating of a conversation: a score of 1 to 5 and an optional comment, one
per conversation (a later rating replaces it).

Revision ID: 0009_rating
Revises: 0008_site_look
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_rating"
down_revision: str | None = "0008_site_look"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("rating", sa.Integer, nullable=True))
        batch.add_column(sa.Column("rating_comment", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("rating_comment")
        batch.drop_column("rating")
