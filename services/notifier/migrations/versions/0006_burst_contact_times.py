"""Messages: each burst batch keeps when the police met each of its cases, so the grouped
follow-up lists them in that order rather than in the order Kafka's partitions delivered them.

Revision ID: notifier_0006
"""

import sqlalchemy as sa
from alembic import op

revision = "notifier_0006"
down_revision = "notifier_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: a batch still collecting when this runs has no times; its cases go by reference.
    op.add_column("burst_batches", sa.Column("contact_times", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("burst_batches") as batch:  # SQLite cannot drop a column in place
        batch.drop_column("contact_times")
