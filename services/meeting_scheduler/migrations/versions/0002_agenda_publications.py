"""Agenda publications: which version of each meeting's agenda went to the coordinator.

Revision ID: meeting_scheduler_0002
"""

import sqlalchemy as sa
from alembic import op

revision = "meeting_scheduler_0002"
down_revision = "meeting_scheduler_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agenda_publications",
        sa.Column("meeting_series", sa.String(64), primary_key=True),
        sa.Column("meeting_starts_at", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("agenda_publications")
