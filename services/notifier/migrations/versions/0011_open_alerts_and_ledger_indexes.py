"""Two reads that scanned a whole table (a review of every read that grows, README round two,
twentieth part):
- the open alerts, which the console polls every 5 s and the metrics sampler counts every 5 s:
  an index on (status, raised_at) gives them the open ones, newest first, without reading every
  alert ever raised;
- an alert's delivery ledger (`GET /v1/alerts/{id}`) joins `delivery_attempts` on
  `notification_id`, which had no index.

Revision ID: notifier_0011
"""

from alembic import op

revision = "notifier_0011"
down_revision = "notifier_0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_alerts_status_raised", "alerts", ["status", "raised_at"])
    op.create_index("ix_delivery_attempts_notification", "delivery_attempts", ["notification_id"])


def downgrade() -> None:
    op.drop_index("ix_delivery_attempts_notification", table_name="delivery_attempts")
    op.drop_index("ix_alerts_status_raised", table_name="alerts")
