"""Training and awareness sessions for front-line professionals (issue #15 part 5): each session's
time, topic, audience organisations (short names), materials link and, once held, the number who
attended; and the pace-warning level already sent to the head of service, so a restart does not warn
twice for the same shortfall.

Revision ID: meeting_scheduler_0012
"""

import sqlalchemy as sa
from alembic import op

revision = "meeting_scheduler_0012"
down_revision = "meeting_scheduler_0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "training_sessions",
        sa.Column("session_id", sa.String(64), primary_key=True),
        sa.Column("meeting_series", sa.String(64), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("topic", sa.String(120), nullable=False),
        sa.Column("audience", sa.Text, nullable=False),  # JSON list of organisations
        sa.Column("materials_url", sa.String(500), nullable=True),
        sa.Column("attending", sa.Integer, nullable=True),
        sa.Column("attendance_recorded_by", sa.String(64), nullable=True),
        sa.Column("attendance_recorded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("recorded_by", sa.String(64), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_training_sessions_starts_at", "training_sessions", ["starts_at"])
    op.create_table(
        "training_pace_warnings",
        sa.Column("meeting_series", sa.String(64), primary_key=True),
        sa.Column("warned_expected", sa.Integer, nullable=False),
        sa.Column("warned_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("training_pace_warnings")
    op.drop_index("ix_training_sessions_starts_at", table_name="training_sessions")
    op.drop_table("training_sessions")
