"""Casework's view of each case's tasks, for open needs, actions due and carry-over.

Revision ID: meeting_scheduler_0003
"""

import sqlalchemy as sa
from alembic import op

revision = "meeting_scheduler_0003"
down_revision = "meeting_scheduler_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_tasks",
        sa.Column("task_id", sa.String(64), primary_key=True),
        sa.Column("case_reference", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("open", sa.Boolean, nullable=False),
        sa.Column("overdue", sa.Boolean, nullable=False),
    )
    op.create_index("ix_case_tasks_case_reference", "case_tasks", ["case_reference"])


def downgrade() -> None:
    op.drop_index("ix_case_tasks_case_reference", "case_tasks")
    op.drop_table("case_tasks")
