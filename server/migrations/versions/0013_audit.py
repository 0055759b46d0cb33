"""The audit log (append-only: triggers refuse UPDATE and DELETE on both databases), a
retention period per site, and the claims that keep a fleet's scheduled jobs (the retention
purge) on one node at a time.

Revision ID: 0013_audit
Revises: 0012_webhooks
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_audit"
down_revision: str | None = "0012_webhooks"
branch_labels: str | None = None
depends_on: str | None = None

_PG_FUNCTION = """
CREATE FUNCTION audit_log_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$ LANGUAGE plpgsql
"""
_PG_TRIGGER = """
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()
"""
_SQLITE_TRIGGERS = [
    f"""
CREATE TRIGGER audit_log_no_{verb.lower()} BEFORE {verb} ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END
"""
    for verb in ("UPDATE", "DELETE")
]


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, nullable=False, autoincrement=True),
        sa.Column("at", sa.Double, nullable=False),
        sa.Column("actor_id", sa.Integer, nullable=True),
        sa.Column("actor", sa.String(320), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("target", sa.String(200), nullable=True),
        sa.Column("details", sa.Text, nullable=True),
        sa.Column("address", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_action_at", "audit_log", ["action", "at"])
    op.create_index("ix_audit_log_actor_id_at", "audit_log", ["actor_id", "at"])
    op.create_index("ix_audit_log_target", "audit_log", ["target"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_FUNCTION)
        op.execute(_PG_TRIGGER)
    else:
        for trigger in _SQLITE_TRIGGERS:
            op.execute(trigger)
    with op.batch_alter_table("sites") as batch:
        batch.add_column(sa.Column("retention_days", sa.Integer, nullable=True))
    op.create_table(
        "job_claims",
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("node_id", sa.String(32), nullable=True),
        sa.Column("claimed_until", sa.Double, nullable=False, server_default="0"),
        sa.Column("last_run_at", sa.Double, nullable=True),
        sa.PrimaryKeyConstraint("name", name="pk_job_claims"),
    )
    op.create_index(
        "ix_conversations_site_id_status_ended_at",
        "conversations",
        ["site_id", "status", "ended_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_conversations_site_id_status_ended_at", table_name="conversations")
    op.drop_table("job_claims")
    with op.batch_alter_table("sites") as batch:
        batch.drop_column("retention_days")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION audit_log_append_only()")
    op.drop_table("audit_log")
