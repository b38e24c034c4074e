"""A case's alerts (the console's case page, `GET /v1/alerts?case_reference=`) read every alert
ever raised: `case_reference` had no index, and the filter was one OR with the grouped alerts'
batch lists, which no index can serve. The read is now two (services/notifier/alert_views.py):
the case's own alerts by this index, and the burst batches that list it.

Revision ID: notifier_0012
"""

from alembic import op

revision = "notifier_0012"
down_revision = "notifier_0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_alerts_case", "alerts", ["case_reference"])


def downgrade() -> None:
    op.drop_index("ix_alerts_case", table_name="alerts")
