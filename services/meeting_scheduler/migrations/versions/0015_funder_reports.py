"""The funder's quarterly reports (issue #15 part 6): one row per financial quarter and version,
with the figures as shown (small numbers suppressed) and the PDF and CSV as sent. No case
reference.

Revision ID: meeting_scheduler_0015
"""

import sqlalchemy as sa
from alembic import op

revision = "meeting_scheduler_0015"
down_revision = "meeting_scheduler_0014"
branch_labels = None
depends_on = None

WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "funder_reports",
        sa.Column("quarter", sa.String(10), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("starts_on", sa.Date, nullable=False),
        sa.Column("ends_on", sa.Date, nullable=False),
        sa.Column("figures", sa.Text, nullable=False),
        sa.Column("pdf", sa.LargeBinary, nullable=False),
        sa.Column("csv", sa.Text, nullable=False),
        sa.Column("published_at", WHEN, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("funder_reports")
