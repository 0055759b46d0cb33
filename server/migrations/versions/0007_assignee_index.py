"""An index for each staff member's conversations by state: routing counts a staff member's
active conversations on every dispatch, accept and staffing read, which otherwise scanned every
active conversation (dispatch grew with the number open).

Revision ID: 0007_assignee_index
Revises: 0006_event_log
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

revision = "0007_assignee_index"
down_revision: str | None = "0006_event_log"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_index(
        "ix_conversations_assignee_id_status", "conversations", ["assignee_id", "status"]
    )


def downgrade() -> None:
    op.drop_index("ix_conversations_assignee_id_status", table_name="conversations")
