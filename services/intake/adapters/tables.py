"""Intake's tables. Personal data lives only in `vault_records`, encrypted."""

from __future__ import annotations

import sqlalchemy as sa

from shared.db import UtcDateTime
from shared.outbox import outbox_table

metadata = sa.MetaData()

cases = sa.Table(
    "cases",
    metadata,
    sa.Column("case_reference", sa.String(32), primary_key=True),
    sa.Column("force_code", sa.String(8), nullable=False),
    sa.Column("police_reference", sa.String(64), nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("pathway", sa.String(32), nullable=False),
    sa.Column("urgency", sa.String(16), nullable=False),
    sa.Column("district", sa.String(32), nullable=False),
    sa.Column("received_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("purged_at", UtcDateTime, nullable=True),
    sa.UniqueConstraint("force_code", "police_reference", name="uq_cases_police_contact"),
)

vault_records = sa.Table(
    "vault_records",
    metadata,
    sa.Column(
        "case_reference", sa.String(32), sa.ForeignKey("cases.case_reference"), primary_key=True
    ),
    sa.Column("key_id", sa.String(32), nullable=False),
    sa.Column("nonce", sa.LargeBinary, nullable=False),
    sa.Column("ciphertext", sa.LargeBinary, nullable=False),
    sa.Column("stored_at", UtcDateTime, nullable=False),
)

outbox = outbox_table(metadata)

# Request ids of signed POSTs, so a captured request cannot be replayed within its window.
request_ids = sa.Table(
    "request_ids",
    metadata,
    sa.Column("request_id", sa.String(128), primary_key=True),
    sa.Column("key_id", sa.String(64), nullable=False),
    sa.Column("seen_at", UtcDateTime, nullable=False),
    # "http", or "kafka:<topic>:<partition>:<offset>" for a record on the ingress topic.
    sa.Column("source", sa.String(300), nullable=True),
    sa.Index("ix_request_ids_seen_at", "seen_at"),  # forgetting old ids (intake_0002)
)

# Every read of personal data (and every purge): who, when, why.
vault_access_log = sa.Table(
    "vault_access_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("case_reference", sa.String(32), nullable=False),
    sa.Column("accessor", sa.String(128), nullable=False),
    sa.Column("purpose", sa.String(500), nullable=False),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("accessed_at", UtcDateTime, nullable=False),
)

# Police operations announced ahead (services/intake/operations.py): one row per operation group,
# the announcement as last received. No person: an expected number is a planning figure.
operations = sa.Table(
    "operations",
    metadata,
    sa.Column("operation_group", sa.String(80), primary_key=True),
    sa.Column("operation", sa.String(64), nullable=False),
    sa.Column("force_code", sa.String(8), nullable=False),
    sa.Column("district", sa.String(32), nullable=False),
    sa.Column("starts_at", UtcDateTime, nullable=False),
    sa.Column("ends_at", UtcDateTime, nullable=False),
    sa.Column("expected_victims", sa.Integer, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("announced_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)
