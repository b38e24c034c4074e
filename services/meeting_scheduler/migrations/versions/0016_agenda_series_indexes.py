"""An agenda's reads go by series and meeting time, and neither table had an index that starts
with the series: every agenda build (every minute for two days before a case panel) scanned every
item ever listed, now once for the items and once in each of three reads of their cases, and the
hand-added items likewise (README, round two, twentieth part).

Revision ID: meeting_scheduler_0016
"""

from alembic import op

revision = "meeting_scheduler_0016"
down_revision = "meeting_scheduler_0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_agenda_items_series", "agenda_items", ["meeting_series", "meeting_starts_at"]
    )
    op.create_index(
        "ix_manual_items_series", "manual_items", ["meeting_series", "meeting_starts_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_manual_items_series", table_name="manual_items")
    op.drop_index("ix_agenda_items_series", table_name="agenda_items")
