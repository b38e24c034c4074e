"""A task's history is its audit trail (who changed what, when): make it append-only.

Revision ID: casework_0003
"""

from alembic import op

from shared.migration_steps import make_append_only

revision = "casework_0003"
down_revision = "casework_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    make_append_only("task_history")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER task_history_append_only ON task_history")
        op.execute("DROP TRIGGER task_history_no_truncate ON task_history")
        return
    op.execute("DROP TRIGGER task_history_no_update")
    op.execute("DROP TRIGGER task_history_no_delete")
