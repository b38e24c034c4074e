"""Quarters closed for the funder's report (issue #15 part 6): each case's latest NRM consent,
each case's first alert and when alerts were acknowledged (for "acknowledged within target"), and
the quarters published (one row per quarter and version: the claim that publishes each once).

Revision ID: casework_0009
"""

import sqlalchemy as sa
from alembic import op

revision = "casework_0009"
down_revision = "casework_0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("nrm_consent", sa.String(16), nullable=True))
    op.create_table(
        "case_alerts",
        sa.Column("case_reference", sa.String(32), primary_key=True),
        sa.Column("alert_id", sa.Text, nullable=False),
        sa.Column("urgency", sa.String(16), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_case_alerts_alert_id", "case_alerts", ["alert_id"])
    op.create_table(
        "alert_acknowledgements",
        sa.Column("alert_id", sa.Text, primary_key=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "quarterly_reports",
        sa.Column("quarter", sa.String(16), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_by", sa.String(64), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("quarterly_reports")
    op.drop_table("alert_acknowledgements")
    op.drop_index("ix_case_alerts_alert_id", "case_alerts")
    op.drop_table("case_alerts")
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("nrm_consent")
