"""Casework's first schema: tasks, the outbox, processed events.

Revision ID: casework_0001
"""

import sqlalchemy as sa
from alembic import op

from shared.migration_steps import create_outbox_v1, create_processed_events_v1

revision = "casework_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tasks",
        sa.Column("task_id", sa.String(64), primary_key=True),
        sa.Column("case_reference", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("case_reference", "kind", name="uq_tasks_case_kind"),
    )
    create_outbox_v1()
    create_processed_events_v1()


def downgrade() -> None:
    for table in ("processed_events", "outbox", "tasks"):
        op.drop_table(table)
