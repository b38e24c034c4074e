"""Onward referrals as records (#15 part 2): each referral of a need task to an organisation (a
directory entry id or a short name), with its date, method and outcome; the append-only history
of its outcomes; and the claims that make each referral's follow-up reminder fire once.
No free-text column: a decline's reason is one of a fixed list.

Revision ID: casework_0008
"""

import sqlalchemy as sa
from alembic import op

from shared.migration_steps import make_append_only

revision = "casework_0008"
down_revision = "casework_0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "referrals",
        sa.Column("referral_id", sa.String(64), primary_key=True),
        sa.Column("task_id", sa.String(64), nullable=False),
        sa.Column("case_reference", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("organisation_id", sa.String(64), nullable=True),
        sa.Column("organisation_name", sa.String(80), nullable=True),
        sa.Column("made_on", sa.Date, nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("decline_reason", sa.String(32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=False),
    )
    op.create_index("ix_referrals_task_id", "referrals", ["task_id"])
    op.create_index("ix_referrals_outcome", "referrals", ["outcome"])
    op.create_table(
        "referral_history",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("referral_id", sa.String(64), nullable=False),
        sa.Column("from_outcome", sa.String(16), nullable=True),
        sa.Column("to_outcome", sa.String(16), nullable=False),
        sa.Column("decline_reason", sa.String(32), nullable=True),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_referral_history_referral_id", "referral_history", ["referral_id"])
    make_append_only("referral_history")
    op.create_table(
        "referral_follow_ups",
        sa.Column("referral_id", sa.String(64), primary_key=True),
        sa.Column("case_reference", sa.String(32), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("referral_follow_ups")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER referral_history_append_only ON referral_history")
        op.execute("DROP TRIGGER referral_history_no_truncate ON referral_history")
    else:
        op.execute("DROP TRIGGER referral_history_no_update")
        op.execute("DROP TRIGGER referral_history_no_delete")
    op.drop_index("ix_referral_history_referral_id", "referral_history")
    op.drop_table("referral_history")
    op.drop_index("ix_referrals_outcome", "referrals")
    op.drop_index("ix_referrals_task_id", "referrals")
    op.drop_table("referrals")
