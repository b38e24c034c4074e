"""Anonymised referral facts and casework's figures, for the NASN's quarterly summary.

Revision ID: meeting_scheduler_0005
"""

import sqlalchemy as sa
from alembic import op

revision = "meeting_scheduler_0005"
down_revision = "meeting_scheduler_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "referral_stats",
        sa.Column("case_reference", sa.String(32), primary_key=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("district", sa.String(32), nullable=False),
        sa.Column("exploitation_types", sa.String(200), nullable=False),
        sa.Column("operation", sa.String(100), nullable=True),
    )
    op.create_table(
        "casework_figures",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("figures", sa.Text, nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("casework_figures")
    op.drop_table("referral_stats")
