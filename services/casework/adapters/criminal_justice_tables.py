"""Criminal-justice engagement records (casework_0007), on the same metadata as the rest of
casework's tables (services/casework/adapters/tables.py).

No column holds free text: states, kinds, staff ids, instants and ids only. That is how "never any
content of what was said" is kept (services/casework/criminal_justice.py)."""

from __future__ import annotations

import sqlalchemy as sa

from services.casework.adapters.tables import metadata
from shared.db import UtcDateTime

# A case's engagement now; no row means not_yet_asked.
criminal_justice = sa.Table(
    "criminal_justice",
    metadata,
    sa.Column("case_reference", sa.String(32), primary_key=True),
    sa.Column("state", sa.String(32), nullable=False),
    sa.Column("booking_id", sa.String(64), nullable=True),  # support_booked: the current booking
    sa.Column("booking_kind", sa.String(16), nullable=True),  # interview | court
    sa.Column("booked_at", UtcDateTime, nullable=True),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("updated_by", sa.String(64), nullable=False),
    # The booking reminders read only the bookings still ahead (casework_0010).
    sa.Index("ix_criminal_justice_booked", "state", "booked_at"),
)

# Every change, append-only (triggers refuse UPDATE and DELETE): who, when, from what to what.
criminal_justice_history = sa.Table(
    "criminal_justice_history",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("case_reference", sa.String(32), nullable=False, index=True),
    sa.Column("from_state", sa.String(32), nullable=False),
    sa.Column("to_state", sa.String(32), nullable=False),
    sa.Column("booking_id", sa.String(64), nullable=True),
    sa.Column("booking_kind", sa.String(16), nullable=True),
    sa.Column("booked_at", UtcDateTime, nullable=True),
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
)

# One row per booking and reminder offset: the durable claim that the reminder was handled, written
# in the transaction that enqueues its event, so a restart neither repeats nor skips one.
criminal_justice_reminders = sa.Table(
    "criminal_justice_reminders",
    metadata,
    sa.Column("booking_id", sa.String(64), primary_key=True),
    sa.Column("offset_key", sa.String(32), primary_key=True),
    sa.Column("case_reference", sa.String(32), nullable=False),
    sa.Column("sent", sa.Boolean, nullable=False),  # False: overtaken by a later offset, not sent
    sa.Column("claimed_at", UtcDateTime, nullable=False),
)
