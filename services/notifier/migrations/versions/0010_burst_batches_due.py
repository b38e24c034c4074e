"""The clock reads the earliest collecting burst batch every pass (services/notifier/scheduling.py
`next_due`): an index on (status, send_at), as the other timer tables have, so that read is the
front of an index, not a scan of every batch ever collected.

Revision ID: notifier_0010
"""

from alembic import op

revision = "notifier_0010"
down_revision = "notifier_0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_burst_batches_due", "burst_batches", ["status", "send_at"])


def downgrade() -> None:
    op.drop_index("ix_burst_batches_due", table_name="burst_batches")
