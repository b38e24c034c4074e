"""Alerts with durable escalation steps, per-channel notifications, a delivery ledger, burst
batches, attachments and rota-gap warnings. Replaces the skeleton's single alerts table (development data
only existed in it; its pending alerts are not carried over).

Revision ID: notifier_0002
"""

import sqlalchemy as sa
from alembic import op

revision = "notifier_0002"
down_revision = "notifier_0001"
branch_labels = None
depends_on = None

WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.drop_index("ix_alerts_due", "alerts")
    op.drop_table("alerts")
    op.create_table(
        "alerts",
        sa.Column("alert_id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("subject_key", sa.String(200), nullable=False),
        sa.Column("case_reference", sa.String(32), nullable=True),
        sa.Column("operation_group", sa.String(200), nullable=True),
        sa.Column("urgency", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("fields", sa.Text, nullable=False),
        sa.Column("correlation_id", sa.String(128), nullable=False),
        sa.Column("raised_at", WHEN, nullable=False),
        sa.Column("acknowledged_at", WHEN, nullable=True),
        sa.Column("acknowledged_by", sa.String(64), nullable=True),
        sa.UniqueConstraint("kind", "subject_key", name="uq_alerts_subject"),
    )
    op.create_index("ix_alerts_group", "alerts", ["operation_group", "raised_at"])
    op.create_table(
        "escalation_steps",
        sa.Column("alert_id", sa.String(64), sa.ForeignKey("alerts.alert_id"), primary_key=True),
        sa.Column("step", sa.Integer, primary_key=True),
        sa.Column("due_at", WHEN, nullable=False),
        sa.Column("targets", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("fired_at", WHEN, nullable=True),
    )
    op.create_index("ix_escalation_steps_due", "escalation_steps", ["status", "due_at"])
    op.create_table(
        "notifications",
        sa.Column("notification_id", sa.String(64), primary_key=True),
        sa.Column("alert_id", sa.String(64), sa.ForeignKey("alerts.alert_id"), nullable=False),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("ack_code", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", WHEN, nullable=False),
        sa.Column("title", sa.String(300), nullable=True),
        sa.Column("body", sa.Text, nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("delivered_at", WHEN, nullable=True),
        sa.UniqueConstraint(
            "alert_id", "step", "person_id", "channel", name="uq_notifications_step"
        ),
        sa.UniqueConstraint("ack_code", name="uq_notifications_ack_code"),
    )
    op.create_index("ix_notifications_due", "notifications", ["status", "next_attempt_at"])
    op.create_table(
        "delivery_attempts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("notification_id", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("latency_ms", sa.Integer, nullable=False),
        sa.Column("attempted_at", WHEN, nullable=False),
    )
    op.create_table(
        "burst_batches",
        sa.Column("batch_id", sa.String(64), primary_key=True),
        sa.Column("operation_group", sa.String(200), nullable=False),
        sa.Column("case_references", sa.Text, nullable=False),
        sa.Column("district", sa.String(32), nullable=False),
        sa.Column("operation", sa.String(100), nullable=False),
        sa.Column("urgency", sa.String(16), nullable=False),
        sa.Column("correlation_id", sa.String(128), nullable=False),
        sa.Column("send_at", WHEN, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
    )
    op.create_table(
        "alert_attachments",
        sa.Column("alert_id", sa.String(64), sa.ForeignKey("alerts.alert_id"), primary_key=True),
        sa.Column("filename", sa.String(200), primary_key=True),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "rota_warnings",
        sa.Column("gap_start", WHEN, primary_key=True),
        sa.Column("warned_at", WHEN, nullable=False),
    )


def downgrade() -> None:
    for table in ("rota_warnings", "alert_attachments", "burst_batches", "delivery_attempts", "notifications",
                  "escalation_steps", "alerts"):  # fmt: skip
        op.drop_table(table)
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
        sa.Column("next_attempt_at", WHEN, nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("delivered_at", WHEN, nullable=True),
        sa.UniqueConstraint("case_reference", "recipient_id", name="uq_alerts_case_recipient"),
    )
    op.create_index("ix_alerts_due", "alerts", ["status", "next_attempt_at"])
