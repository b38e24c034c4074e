"""The booking reminders, every 30 s (the chase poll), read every case's criminal-justice
engagement ever recorded to find the few with support booked and still ahead; `(state, booked_at)`
finds only those. README, round two, twenty-first part.

Revision ID: casework_0010
"""

from alembic import op

revision = "casework_0010"
down_revision = "casework_0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_criminal_justice_booked", "criminal_justice", ["state", "booked_at"])


def downgrade() -> None:
    op.drop_index("ix_criminal_justice_booked", table_name="criminal_justice")
