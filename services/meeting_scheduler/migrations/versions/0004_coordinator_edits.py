"""The coordinator's edits: item positions, withdrawals, and items added by hand.

Revision ID: meeting_scheduler_0004
"""

import sqlalchemy as sa
from alembic import op

revision = "meeting_scheduler_0004"
down_revision = "meeting_scheduler_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("agenda_items") as batch:
        batch.add_column(sa.Column("position", sa.Integer, nullable=True))
        batch.add_column(sa.Column("withdrawn_reason", sa.String(500), nullable=True))
    op.create_table(
        "manual_items",
        sa.Column("item_id", sa.String(64), primary_key=True),
        sa.Column("meeting_series", sa.String(64), nullable=False),
        sa.Column("meeting_starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("text", sa.String(500), nullable=False),
        sa.Column("added_by", sa.String(64), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("manual_items")
    with op.batch_alter_table("agenda_items") as batch:
        batch.drop_column("withdrawn_reason")
        batch.drop_column("position")
