"""Police operations announced ahead: the latest version of each, and its reminders to the
advisor on duty the day and the hour before (durable timers; services/notifier/operations.py).

Revision ID: notifier_0008
"""

import sqlalchemy as sa
from alembic import op

revision = "notifier_0008"
down_revision = "notifier_0007"
branch_labels = None
depends_on = None

WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "operation_plans",
        sa.Column("operation_group", sa.String(80), primary_key=True),
        sa.Column("operation", sa.String(64), nullable=False),
        sa.Column("district", sa.String(32), nullable=False),
        sa.Column("starts_at", WHEN, nullable=False),
        sa.Column("ends_at", WHEN, nullable=False),
        sa.Column("expected_victims", sa.Integer, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_table(
        "operation_reminders",
        sa.Column("operation_group", sa.String(80), primary_key=True),
        sa.Column("starts_at", WHEN, primary_key=True),
        sa.Column("before_minutes", sa.Integer, primary_key=True),
        sa.Column("due_at", WHEN, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
    )
    op.create_index("ix_operation_reminders_due", "operation_reminders", ["status", "due_at"])


def downgrade() -> None:
    op.drop_index("ix_operation_reminders_due", "operation_reminders")
    op.drop_table("operation_reminders")
    op.drop_table("operation_plans")
