"""Notifier's first schema: alerts with durable delivery state, the outbox, processed events.

Revision ID: notifier_0001
"""

import sqlalchemy as sa
from alembic import op

from shared.migration_steps import create_outbox_v1, create_processed_events_v1

revision = "notifier_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("alert_id", sa.String(64), primary_key=True),
        sa.Column("case_reference", sa.String(32), nullable=False),
        sa.Column("recipient_id", sa.String(64), nullable=False),
        sa.Column("recipient_role", sa.String(32), nullable=False),
        sa.Column("urgency", sa.String(16), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("correlation_id", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("case_reference", "recipient_id", name="uq_alerts_case_recipient"),
    )
    op.create_index("ix_alerts_due", "alerts", ["status", "next_attempt_at"])
    create_outbox_v1()
    create_processed_events_v1()


def downgrade() -> None:
    for table in ("processed_events", "outbox", "alerts"):
        op.drop_table(table)
