"""The funder's quarterly report (casework_0009), on the same metadata as the rest of casework's
tables: each case's first alert and its acknowledgement (from the notifier's events on the alerts
topic), and the quarters published."""

from __future__ import annotations

import sqlalchemy as sa

from services.casework.adapters.tables import metadata
from shared.db import UtcDateTime

# A case's first alert about it (AlertRaisedV1 of a case kind): when it was raised and at what
# urgency. An alert id arrives from another service unbounded: Text, never a refused insert.
case_alerts = sa.Table(
    "case_alerts",
    metadata,
    sa.Column("case_reference", sa.String(32), primary_key=True),
    sa.Column("alert_id", sa.Text, nullable=False, index=True),
    sa.Column("urgency", sa.String(16), nullable=False),
    sa.Column("raised_at", UtcDateTime, nullable=False),
)

# When each alert was first acknowledged (AlertAcknowledgedV1). Kept apart from case_alerts so the
# two events may arrive in either order.
alert_acknowledgements = sa.Table(
    "alert_acknowledgements",
    metadata,
    sa.Column("alert_id", sa.Text, primary_key=True),
    sa.Column("acknowledged_at", UtcDateTime, nullable=False),
)

# One row per quarter and version published: the claim, written in the transaction that enqueues
# the CaseworkQuarterV1, so a quarter publishes once across restarts and instances, and a rebuild
# asked for by the head of service takes the next version.
quarterly_reports = sa.Table(
    "quarterly_reports",
    metadata,
    sa.Column("quarter", sa.String(16), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("published_at", UtcDateTime, nullable=False),
    sa.Column("published_by", sa.String(64), nullable=False),  # "system" or a staff id
)
