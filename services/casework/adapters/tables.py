from __future__ import annotations

import sqlalchemy as sa

from shared.db import UtcDateTime, processed_events_table
from shared.outbox import outbox_table

metadata = sa.MetaData()

tasks = sa.Table(
    "tasks",
    metadata,
    sa.Column("task_id", sa.String(64), primary_key=True),
    sa.Column("case_reference", sa.String(32), nullable=False),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("due_at", UtcDateTime, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    # One task of a kind per case: replays and updates can never duplicate a task.
    sa.UniqueConstraint("case_reference", "kind", name="uq_tasks_case_kind"),
)

outbox = outbox_table(metadata)
processed_events = processed_events_table(metadata)
