"""Two reads that scanned a table which only grows: the NASN agenda's quarter summary read every
referral ever counted to keep one quarter's (`referral_stats.occurred_at`), and every agenda build
read the deferrals and withdrawals by scanning the whole staff audit (`staff_actions`, one row for
every coordinator's action). README, round two, twenty-first part.

Revision ID: meeting_scheduler_0017
"""

from alembic import op

revision = "meeting_scheduler_0017"
down_revision = "meeting_scheduler_0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_referral_stats_occurred", "referral_stats", ["occurred_at"])
    op.create_index("ix_staff_actions_action_subject", "staff_actions", ["action", "subject"])


def downgrade() -> None:
    op.drop_index("ix_staff_actions_action_subject", table_name="staff_actions")
    op.drop_index("ix_referral_stats_occurred", table_name="referral_stats")
