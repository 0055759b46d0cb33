"""Webhooks: a site's endpoints, the delivery outbox fed from the event log, and the relay's
cursor in that log (see server.tables).

Revision ID: 0012_webhooks
Revises: 0011_api_tokens
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_webhooks"
down_revision: str | None = "0011_api_tokens"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.Integer, nullable=False, autoincrement=True),
        sa.Column("site_id", sa.Integer, nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("description", sa.String(200), nullable=False, server_default=""),
        sa.Column("kinds", sa.Text, nullable=False, server_default="[]"),
        sa.Column("secret", sa.String(64), nullable=False),
        sa.Column("previous_secret", sa.String(64), nullable=True),
        sa.Column("previous_until", sa.Double, nullable=True),
        sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_endpoints"),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name="fk_webhook_endpoints_site_id_sites"
        ),
    )
    op.create_index("ix_webhook_endpoints_site_id", "webhook_endpoints", ["site_id"])
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Integer, nullable=False, autoincrement=True),
        sa.Column("endpoint_id", sa.Integer, nullable=False),
        sa.Column("event_id", sa.Integer, nullable=False),
        sa.Column("message_id", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("retry_from", sa.Double, nullable=False),
        sa.Column("next_attempt_at", sa.Double, nullable=True),
        sa.Column("last_attempt_at", sa.Double, nullable=True),
        sa.Column("response_status", sa.Integer, nullable=True),
        sa.Column("last_error", sa.String(300), nullable=True),
        sa.Column("delivered_at", sa.Double, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_deliveries"),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["webhook_endpoints.id"],
            name="fk_webhook_deliveries_endpoint_id_webhook_endpoints",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("message_id", name="uq_webhook_deliveries_message_id"),
        sa.UniqueConstraint(
            "endpoint_id", "event_id", name="uq_webhook_deliveries_endpoint_id_event_id"
        ),
    )
    op.create_index(
        "ix_webhook_deliveries_status_next_attempt_at",
        "webhook_deliveries",
        ["status", "next_attempt_at"],
    )
    op.create_index(
        "ix_webhook_deliveries_endpoint_id_id", "webhook_deliveries", ["endpoint_id", "id"]
    )
    op.create_table(
        "webhook_cursor",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("last_event_id", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_cursor"),
    )
    # Start at the end of the log: endpoints made from now on get events from now on.
    op.execute(
        "INSERT INTO webhook_cursor (id, last_event_id) SELECT 1, COALESCE(MAX(id), 0) FROM events"
    )


def downgrade() -> None:
    op.drop_table("webhook_cursor")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_endpoints")
