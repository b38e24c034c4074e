"""Notifier's tables. Everything that must survive a restart is here: the alert, its snapshotted
escalation steps (durable timers), every notification to a person on a channel, and the ledger
of delivery attempts."""

from __future__ import annotations

import sqlalchemy as sa

from shared.db import UtcDateTime, processed_events_table
from shared.outbox import outbox_table

metadata = sa.MetaData()

alerts = sa.Table(
    "alerts",
    metadata,
    sa.Column("alert_id", sa.String(64), primary_key=True),
    # What the alert is about: a case (referral), an operation (grouped follow-up), a task, …
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("subject_key", sa.String(200), nullable=False),
    sa.Column("case_reference", sa.String(32), nullable=True),
    sa.Column("operation_group", sa.String(200), nullable=True),
    sa.Column("urgency", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # open | acknowledged
    sa.Column("fields", sa.Text, nullable=False),  # the allow-listed fields, JSON
    sa.Column("correlation_id", sa.String(128), nullable=False),
    sa.Column("raised_at", UtcDateTime, nullable=False),
    sa.Column("acknowledged_at", UtcDateTime, nullable=True),
    sa.Column("acknowledged_by", sa.String(64), nullable=True),
    # W3C trace context of the span that raised it (shared/tracing.py): its notifications copy it.
    sa.Column("trace_context", sa.Text, nullable=True),
    # One alert per subject: a redelivered event or a replayed contact raises nothing new.
    sa.UniqueConstraint("kind", "subject_key", name="uq_alerts_subject"),
    # The open alerts, newest first: the console's 5 s poll and the metrics sample (notifier_0011).
    sa.Index("ix_alerts_status_raised", "status", "raised_at"),
    # A case's alerts, for its page in the console (notifier_0012).
    sa.Index("ix_alerts_case", "case_reference"),
    sa.Index(
        "ix_alerts_group", "operation_group", "raised_at"
    ),  # an operation's alerts (notifier_0002)
)

escalation_steps = sa.Table(
    "escalation_steps",
    metadata,
    sa.Column("alert_id", sa.String(64), sa.ForeignKey("alerts.alert_id"), primary_key=True),
    sa.Column("step", sa.Integer, primary_key=True),
    sa.Column("due_at", UtcDateTime, nullable=False),
    sa.Column("targets", sa.String(200), nullable=False),  # comma-separated Target values
    sa.Column("status", sa.String(16), nullable=False),  # pending | fired | cancelled
    sa.Column("fired_at", UtcDateTime, nullable=True),
    sa.Index("ix_escalation_steps_due", "status", "due_at"),  # the steps due (notifier_0002)
)

notifications = sa.Table(
    "notifications",
    metadata,
    sa.Column("notification_id", sa.String(64), primary_key=True),
    sa.Column("alert_id", sa.String(64), sa.ForeignKey("alerts.alert_id"), nullable=False),
    sa.Column("step", sa.Integer, nullable=False),
    sa.Column("person_id", sa.String(64), nullable=False),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("ack_code", sa.String(16), nullable=False),
    # The code acknowledges nothing after this (None: issued before codes expired, so never).
    sa.Column("ack_expires_at", UtcDateTime, nullable=True),
    sa.Column("status", sa.String(16), nullable=False),  # pending | delivered | failed | cancelled
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", UtcDateTime, nullable=False),
    sa.Column("title", sa.String(300), nullable=True),  # erased after the retention period
    sa.Column("body", sa.Text, nullable=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("delivered_at", UtcDateTime, nullable=True),
    # The alert's trace context: each send is a span in the trace of the contact (delivering.py).
    sa.Column("trace_context", sa.Text, nullable=True),
    # Firing a step twice (a crash between firing and recording) cannot notify twice.
    sa.UniqueConstraint("alert_id", "step", "person_id", "channel", name="uq_notifications_step"),
    sa.UniqueConstraint("ack_code", name="uq_notifications_ack_code"),
    sa.Index("ix_notifications_due", "status", "next_attempt_at"),  # sends due (notifier_0002)
)

delivery_attempts = sa.Table(
    "delivery_attempts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("notification_id", sa.String(64), nullable=False),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),  # delivered | failed
    sa.Column("latency_ms", sa.Integer, nullable=False),
    sa.Column("attempted_at", UtcDateTime, nullable=False),
    sa.Index("ix_delivery_attempts_notification", "notification_id"),  # an alert's ledger
)

burst_batches = sa.Table(
    "burst_batches",
    metadata,
    sa.Column("batch_id", sa.String(64), primary_key=True),
    sa.Column("operation_group", sa.String(200), nullable=False),
    sa.Column("case_references", sa.Text, nullable=False),  # comma-separated, in arrival order
    # JSON {case reference: police contact time}: the follow-up lists cases in that order.
    # Null for a batch collected before revision notifier_0006.
    sa.Column("contact_times", sa.Text, nullable=True),
    sa.Column("district", sa.String(32), nullable=False),
    sa.Column("operation", sa.String(100), nullable=False),
    sa.Column("urgency", sa.String(16), nullable=False),
    sa.Column("correlation_id", sa.String(128), nullable=False),
    sa.Column("send_at", UtcDateTime, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # collecting | sent
    sa.Index("ix_burst_batches_due", "status", "send_at"),
)

alert_attachments = sa.Table(
    "alert_attachments",
    metadata,
    sa.Column("alert_id", sa.String(64), sa.ForeignKey("alerts.alert_id"), primary_key=True),
    sa.Column("filename", sa.String(200), primary_key=True),
    sa.Column("content_type", sa.String(100), nullable=False),
    sa.Column("content", sa.LargeBinary, nullable=False),
)

# Rate limits on acknowledging by code (services/notifier/ack_limits.py): slots used per fixed
# window by a client, a code (keys are HMACs, never the address or the code) or everyone.
ack_attempt_windows = sa.Table(
    "ack_attempt_windows",
    metadata,
    sa.Column("scope", sa.String(8), primary_key=True),  # client | code | global
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("window_start", UtcDateTime, primary_key=True),
    sa.Column("used", sa.Integer, nullable=False),
    sa.Index("ix_ack_attempt_windows_start", "window_start"),
)

rota_warnings = sa.Table(
    "rota_warnings",
    metadata,
    sa.Column("gap_start", UtcDateTime, primary_key=True),
    sa.Column("warned_at", UtcDateTime, nullable=False),
)

# Police operations announced ahead (services/notifier/operations.py): the latest version of each,
# and its reminders to the advisor on duty (durable timers: sent once, by whichever process).
operation_plans = sa.Table(
    "operation_plans",
    metadata,
    sa.Column("operation_group", sa.String(80), primary_key=True),
    sa.Column("operation", sa.String(64), nullable=False),
    sa.Column("district", sa.String(32), nullable=False),
    sa.Column("starts_at", UtcDateTime, nullable=False),
    sa.Column("ends_at", UtcDateTime, nullable=False),
    sa.Column("expected_victims", sa.Integer, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
)

operation_reminders = sa.Table(
    "operation_reminders",
    metadata,
    sa.Column("operation_group", sa.String(80), primary_key=True),
    sa.Column("starts_at", UtcDateTime, primary_key=True),  # a moved window gets its own
    sa.Column("before_minutes", sa.Integer, primary_key=True),
    sa.Column("due_at", UtcDateTime, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # pending | sent | cancelled
    sa.Index("ix_operation_reminders_due", "status", "due_at"),
)

# The dead-man's switch, shared by every notifier instance (services/notifier/heartbeat_store.py):
# one row, id 1.
heartbeat_watch = sa.Table(
    "heartbeat_watch",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("last_end_to_end", UtcDateTime, nullable=True),
    sa.Column("quiet_since", UtcDateTime, nullable=True),  # a "quiet" page is out, not cleared
)

outbox = outbox_table(metadata)
processed_events = processed_events_table(metadata)
