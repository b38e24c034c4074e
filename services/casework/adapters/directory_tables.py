"""The directory of local services (casework_0006), on the same metadata as the rest of
casework's tables (services/casework/adapters/tables.py)."""

from __future__ import annotations

import sqlalchemy as sa

from services.casework.adapters.tables import metadata
from shared.db import UtcDateTime

directory_entries = sa.Table(
    "directory_entries",
    metadata,
    sa.Column("entry_id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("needs", sa.JSON, nullable=False),  # need kinds, sorted
    sa.Column("districts", sa.JSON, nullable=False),  # District values, or ["all"]
    sa.Column("referral", sa.JSON, nullable=False),  # how to refer: [{method, contact, notes}]
    sa.Column("eligibility", sa.String(1000), nullable=True),
    sa.Column("opening_hours", sa.String(500), nullable=True),
    sa.Column("review_date", sa.Date, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("updated_by", sa.String(64), nullable=False),  # "directory-file" when seeded
    # Retired, not deleted: a task's history may name the organisation.
    sa.Column("retired_at", UtcDateTime, nullable=True),
)
