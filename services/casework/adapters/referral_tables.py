"""Onward referrals (casework_0008), on the same metadata as the rest of casework's tables.

No column holds free text: an organisation is a directory entry id or a short name with a strict
pattern, a decline's reason one of a fixed list (services/casework/referrals.py)."""

from __future__ import annotations

import sqlalchemy as sa

from services.casework.adapters.tables import metadata
from shared.db import UtcDateTime

# A referral now: to whom, when and how it was made, and its latest outcome.
referrals = sa.Table(
    "referrals",
    metadata,
    sa.Column("referral_id", sa.String(64), primary_key=True),
    sa.Column("task_id", sa.String(64), nullable=False, index=True),
    sa.Column("case_reference", sa.String(32), nullable=False),
    sa.Column("kind", sa.String(64), nullable=False),  # the task's need
    sa.Column("organisation_id", sa.String(64), nullable=True),  # a directory entry
    sa.Column("organisation_name", sa.String(80), nullable=True),  # else its short name
    sa.Column("made_on", sa.Date, nullable=False),
    sa.Column("method", sa.String(16), nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False, index=True),
    sa.Column("decline_reason", sa.String(32), nullable=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("created_by", sa.String(64), nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("updated_by", sa.String(64), nullable=False),
)

# Every outcome, append-only (triggers refuse UPDATE and DELETE): who, when, from what to what.
referral_history = sa.Table(
    "referral_history",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("referral_id", sa.String(64), nullable=False, index=True),
    sa.Column("from_outcome", sa.String(16), nullable=True),  # None: the referral was made
    sa.Column("to_outcome", sa.String(16), nullable=False),
    sa.Column("decline_reason", sa.String(32), nullable=True),
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
)

# One row per referral chased: the durable claim, written in the transaction that enqueues the
# follow-up event, so a restart neither repeats nor skips one.
referral_follow_ups = sa.Table(
    "referral_follow_ups",
    metadata,
    sa.Column("referral_id", sa.String(64), primary_key=True),
    sa.Column("case_reference", sa.String(32), nullable=False),
    sa.Column("claimed_at", UtcDateTime, nullable=False),
)
