"""Meeting scheduler's first schema: agenda items, the outbox, processed events.

Revision ID: meeting_scheduler_0001
"""

import sqlalchemy as sa
from alembic import op

from shared.migration_steps import create_outbox_v1, create_processed_events_v1

revision = "meeting_scheduler_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agenda_items",
        sa.Column("item_id", sa.String(64), primary_key=True),
        sa.Column("case_reference", sa.String(32), nullable=False),
        sa.Column("meeting_series", sa.String(64), nullable=False),
        sa.Column("meeting_starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("district", sa.String(32), nullable=False),
        sa.Column("exploitation_types", sa.String(200), nullable=False),
        sa.Column("urgency", sa.String(16), nullable=False),
        sa.Column("open_needs", sa.String(400), nullable=False),
        sa.Column("late", sa.Boolean, nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("case_reference", "meeting_series", name="uq_agenda_case_series"),
    )
    create_outbox_v1()
    create_processed_events_v1()


def downgrade() -> None:
    for table in ("processed_events", "outbox", "agenda_items"):
        op.drop_table(table)
