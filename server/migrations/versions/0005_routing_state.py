"""Routing state in the database, so that any node can act: ring deadlines and the round of
staff rung on each conversation; staff presence with grace deadlines; the console sockets of
each node, and each node's heartbeat.

Revision ID: 0005_routing_state
Revises: 0004_calls_table
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_routing_state"
down_revision: str | None = "0004_calls_table"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("ring_deadline", sa.Double, nullable=True))
        batch.add_column(sa.Column("tried", sa.Text, nullable=False, server_default="[]"))
        batch.create_index("ix_conversations_status_ring_deadline", ["status", "ring_deadline"])
    op.create_table(
        "nodes",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("started_at", sa.Double, nullable=False),
        sa.Column("heartbeat_at", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_nodes"),
    )
    op.create_table(
        "staff_presence",
        sa.Column("staff_id", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="away"),
        sa.Column("media", sa.Text, nullable=False, server_default="[]"),
        sa.Column("idle_since", sa.Double, nullable=False),
        sa.Column("grace_until", sa.Double, nullable=True),
        sa.PrimaryKeyConstraint("staff_id", name="pk_staff_presence"),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff.id"], name="fk_staff_presence_staff_id_staff"
        ),
    )
    op.create_index("ix_staff_presence_grace_until", "staff_presence", ["grace_until"])
    op.create_table(
        "staff_sockets",
        sa.Column("node_id", sa.String(32), nullable=False),
        sa.Column("sid", sa.String(64), nullable=False),
        sa.Column("staff_id", sa.Integer, nullable=False),
        sa.Column("connected_at", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("node_id", "sid", name="pk_staff_sockets"),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], name="fk_staff_sockets_staff_id_staff"),
    )
    op.create_index("ix_staff_sockets_staff_id", "staff_sockets", ["staff_id"])


def downgrade() -> None:
    op.drop_table("staff_sockets")
    op.drop_table("staff_presence")
    op.drop_table("nodes")
    with op.batch_alter_table("conversations") as batch:
        batch.drop_index("ix_conversations_status_ring_deadline")
        batch.drop_column("tried")
        batch.drop_column("ring_deadline")
