"""Minutes: attendance and apologies per meeting, and the decisions and actions recorded per item.

Revision ID: meeting_scheduler_0009
"""

import sqlalchemy as sa
from alembic import op

revision = "meeting_scheduler_0009"
down_revision = "meeting_scheduler_0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "meeting_attendance",
        sa.Column("meeting_series", sa.String(64), primary_key=True),
        sa.Column("meeting_starts_at", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("organisation", sa.String(120), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("ordinal", sa.Integer, nullable=False),
        sa.Column("recorded_by", sa.String(64), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "meeting_decisions",
        sa.Column("decision_id", sa.String(64), primary_key=True),
        sa.Column("meeting_series", sa.String(64), nullable=False),
        sa.Column("meeting_starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("case_reference", sa.String(32), nullable=True),
        sa.Column("text", sa.String(500), nullable=False),
        sa.Column("ordinal", sa.Integer, nullable=False),
        sa.Column("recorded_by", sa.String(64), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_meeting_decisions_meeting", "meeting_decisions", ["meeting_series", "meeting_starts_at"]
    )
    op.create_table(
        "meeting_actions",
        sa.Column("action_id", sa.String(64), primary_key=True),
        sa.Column("meeting_series", sa.String(64), nullable=False),
        sa.Column("meeting_starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("case_reference", sa.String(32), nullable=True),
        sa.Column("text", sa.String(500), nullable=False),
        sa.Column("owner", sa.String(120), nullable=False),
        sa.Column("due", sa.Date, nullable=False),
        sa.Column("ordinal", sa.Integer, nullable=False),
        sa.Column("recorded_by", sa.String(64), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("done_by", sa.String(64), nullable=True),
    )
    op.create_index(
        "ix_meeting_actions_series", "meeting_actions", ["meeting_series", "meeting_starts_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_meeting_actions_series", table_name="meeting_actions")
    op.drop_table("meeting_actions")
    op.drop_index("ix_meeting_decisions_meeting", table_name="meeting_decisions")
    op.drop_table("meeting_decisions")
    op.drop_table("meeting_attendance")
