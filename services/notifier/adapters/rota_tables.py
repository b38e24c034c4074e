"""The notifier's tables for staff edits: leave and cover added from the console, and the
append-only record of who did what (shared/audit.py). On the same metadata as the rest of the
notifier's tables (services/notifier/adapters/tables.py)."""

from __future__ import annotations

import sqlalchemy as sa

from services.notifier.adapters.tables import metadata
from shared.audit import staff_actions_table
from shared.db import UtcDateTime

rota_changes = sa.Table(
    "rota_changes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(8), nullable=False),  # leave | cover
    sa.Column("person_id", sa.String(64), nullable=False),
    # London wall-clock, like the rota file's overrides: a shift "08:00" is 08:00 in BST and GMT.
    sa.Column("starts_local", sa.DateTime(timezone=False), nullable=False),
    sa.Column("ends_local", sa.DateTime(timezone=False), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("created_by", sa.String(64), nullable=False),
    # Removed, not deleted: what the rota said at a time stays readable next to its audit record.
    sa.Column("removed_at", UtcDateTime, nullable=True),
    sa.Column("removed_by", sa.String(64), nullable=True),
    # Imported from a calendar (services/notifier/rota_calendar.py): which calendar, which event
    # (a SHA-256 of its UID: no calendar text is stored) and which occurrence of a recurring one
    # ("" for a single event). NULL for a change added by hand: the import never touches those.
    sa.Column("import_source", sa.String(40), nullable=True),
    sa.Column("import_uid", sa.String(64), nullable=True),
    sa.Column("import_occurrence", sa.String(40), nullable=True),
    sa.Index("ix_rota_changes_live", "removed_at", "ends_local"),
    # One live change per calendar event occurrence: two imports racing cannot both add it.
    sa.Index(
        "uq_rota_changes_imported",
        "import_source",
        "import_uid",
        "import_occurrence",
        unique=True,
        sqlite_where=sa.text("removed_at IS NULL"),
        postgresql_where=sa.text("removed_at IS NULL"),
    ),
)

staff_actions = staff_actions_table(metadata)
