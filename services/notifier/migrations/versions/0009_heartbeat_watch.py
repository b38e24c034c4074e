"""The dead-man's switch shared by every notifier instance: when a heartbeat last went end to end
and whether a "pipeline quiet" page is out. Heartbeats travel on one key, so with several
notifiers only one receives them; kept in memory, the others would page a silence that is not
there (services/notifier/heartbeat_store.py).

Revision ID: notifier_0009
"""

import sqlalchemy as sa
from alembic import op

revision = "notifier_0009"
down_revision = "notifier_0008"
branch_labels = None
depends_on = None

WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "heartbeat_watch",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("last_end_to_end", WHEN, nullable=True),
        sa.Column("quiet_since", WHEN, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("heartbeat_watch")
