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
    sa.Column("assignee", sa.String(64), nullable=True),
    # How the assignee was chosen: on_duty (at opening), acknowledged (took the alert), reassigned.
    sa.Column("assigned_by", sa.String(16), nullable=True),
    sa.Column("organisation", sa.String(64), nullable=True),
    sa.Column("detail", sa.String(500), nullable=True),
    sa.Column("updated_at", UtcDateTime, nullable=True),
    sa.Column("closed_at", UtcDateTime, nullable=True),
    # An onward referral: how and on what day it was made, and its outcome once known.
    sa.Column("referral_method", sa.String(32), nullable=True),
    sa.Column("referred_on", sa.Date, nullable=True),
    sa.Column("outcome", sa.String(500), nullable=True),
    # One task of a kind per case: replays and updates can never duplicate a task.
    sa.UniqueConstraint("case_reference", "kind", name="uq_tasks_case_kind"),
    sa.Index("ix_tasks_status_due", "status", "due_at"),  # the overdue chaser (casework_0002)
    sa.Index("ix_tasks_assignee", "assignee"),  # an advisor's tasks (casework_0002)
)

# Every change to a task: who, when, from what to what.
task_history = sa.Table(
    "task_history",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("task_id", sa.String(64), nullable=False),
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("change", sa.String(32), nullable=False),
    sa.Column("from_value", sa.String(64), nullable=True),
    sa.Column("to_value", sa.String(64), nullable=True),
    sa.Column("detail", sa.String(500), nullable=True),
    sa.Column("at", UtcDateTime, nullable=False),
    # A referral's facts as recorded by this change (the task keeps only the latest).
    sa.Column("organisation", sa.String(64), nullable=True),
    sa.Column("referral_method", sa.String(32), nullable=True),
    sa.Column("referred_on", sa.Date, nullable=True),
    sa.Column("outcome", sa.String(500), nullable=True),
    sa.Index("ix_task_history_task", "task_id"),  # a task's history (casework_0002)
)

# Who took a case (acknowledged its alert). Kept apart from tasks, because the acknowledgement
# may arrive before the referral's tasks do: events on different topics come in any order.
case_owners = sa.Table(
    "case_owners",
    metadata,
    sa.Column("case_reference", sa.String(32), primary_key=True),
    sa.Column("person_id", sa.String(64), nullable=False),
    sa.Column("since", UtcDateTime, nullable=False),
)

# Facts for the funder's figures; no identifiers.
cases = sa.Table(
    "cases",
    metadata,
    sa.Column("case_reference", sa.String(32), primary_key=True),
    sa.Column("pathway", sa.String(32), nullable=False),
    sa.Column("recorded_at", UtcDateTime, nullable=False),
    sa.Column("opened_at", UtcDateTime, nullable=False),
    # From the referral's facts (casework_0006): the directory suggests organisations covering
    # it. NULL for cases opened before that revision.
    sa.Column("district", sa.String(32), nullable=True),
    # The latest NRM consent the police sent (casework_0009), for the funder's quarterly split of
    # adults who declined the NRM; NULL for cases opened before that revision.
    sa.Column("nrm_consent", sa.String(16), nullable=True),
)

# One row per task and chasing threshold: the durable record that a reminder was published.
task_chases = sa.Table(
    "task_chases",
    metadata,
    sa.Column("task_id", sa.String(64), primary_key=True),
    sa.Column("threshold", sa.String(16), primary_key=True),
    sa.Column("chased_at", UtcDateTime, nullable=False),
)

outbox = outbox_table(metadata)
processed_events = processed_events_table(metadata)
