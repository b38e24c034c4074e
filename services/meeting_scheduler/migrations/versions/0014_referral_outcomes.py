"""Onward referral outcomes shown on the case-panel agenda (issue #15 part 2): the latest outcome
of each referral casework publishes (ReferralOutcomeRecordedV1 on the tasks topic), with the time
and event id that order them. Ids, the need, the organisation and the outcome only: no identity.

Revision ID: meeting_scheduler_0014
"""

import sqlalchemy as sa
from alembic import op

revision = "meeting_scheduler_0014"
down_revision = "meeting_scheduler_0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "referral_outcomes",
        sa.Column("referral_id", sa.String(64), primary_key=True),
        sa.Column("case_reference", sa.String(32), nullable=False),
        sa.Column("task_id", sa.String(64), nullable=False),
        sa.Column("need", sa.String(64), nullable=False),
        sa.Column("organisation_id", sa.String(64), nullable=True),
        sa.Column("organisation_name", sa.String(80), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("decline_reason", sa.String(32), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
    )
    op.create_index("ix_referral_outcomes_case_reference", "referral_outcomes", ["case_reference"])


def downgrade() -> None:
    op.drop_index("ix_referral_outcomes_case_reference", "referral_outcomes")
    op.drop_table("referral_outcomes")
