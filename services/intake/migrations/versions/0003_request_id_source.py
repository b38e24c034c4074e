"""Where a signed request id was first seen: the HTTP edge, or a Kafka record's place (topic,
partition, offset). A record read again from the same place is a redelivery, not a replay.

Revision ID: intake_0003
"""

import sqlalchemy as sa
from alembic import op

revision = "intake_0003"
down_revision = "intake_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("request_ids") as batch:
        batch.add_column(sa.Column("source", sa.String(300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("request_ids") as batch:
        batch.drop_column("source")
