"""Notifier's tables: one row per alert to one person, with its delivery state (durable: a restart
picks up whatever was not yet delivered)."""

from __future__ import annotations

import sqlalchemy as sa

from shared.db import UtcDateTime, processed_events_table
from shared.outbox import outbox_table

metadata = sa.MetaData()

alerts = sa.Table(
    "alerts",
    metadata,
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
    sa.Column("next_attempt_at", UtcDateTime, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("delivered_at", UtcDateTime, nullable=True),
    sa.UniqueConstraint("case_reference", "recipient_id", name="uq_alerts_case_recipient"),
)

outbox = outbox_table(metadata)
processed_events = processed_events_table(metadata)
