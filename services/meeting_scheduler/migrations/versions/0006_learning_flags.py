"""Themes flagged for the NASN's learning.

Revision ID: meeting_scheduler_0006
"""

import sqlalchemy as sa
from alembic import op

revision = "meeting_scheduler_0006"
down_revision = "meeting_scheduler_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "learning_flags",
        sa.Column("flag_id", sa.String(64), primary_key=True),
        sa.Column("theme", sa.String(300), nullable=False),
        sa.Column("flagged_by", sa.String(64), nullable=False),
        sa.Column("flagged_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("learning_flags")
