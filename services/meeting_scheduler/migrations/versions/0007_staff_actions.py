"""Who changed an agenda, how and when: the append-only audit table of shared/audit.py.

Revision ID: meeting_scheduler_0007
"""

from alembic import op

from shared.migration_steps import create_staff_actions_v1

revision = "meeting_scheduler_0007"
down_revision = "meeting_scheduler_0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_staff_actions_v1()


def downgrade() -> None:
    op.drop_table("staff_actions")
