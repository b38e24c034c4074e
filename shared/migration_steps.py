"""Migration steps several services run for the tables shared/ defines.

Versioned by name and never edited once released: a change to the outbox gets a new function
(`create_outbox_v2`) and a new revision in each service, so old revisions keep meaning what they did.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


def create_outbox_v1() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(64), nullable=False, unique=True),
        sa.Column("topic", sa.String(255), nullable=False),
        sa.Column("message_key", sa.String(255), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("correlation_id", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
    )


def create_processed_events_v1() -> None:
    op.create_table(
        "processed_events",
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
    )


def create_staff_actions_v1() -> None:
    """The audit table of shared/audit.py, append-only: triggers refuse UPDATE and DELETE (and
    TRUNCATE on PostgreSQL), so no code path of the service, nor a slip at a SQL prompt, can
    rewrite who did what. (The table's owner could still drop a trigger: against that, run the
    service as a role that does not own its tables.)"""
    op.create_table(
        "staff_actions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(128), nullable=False),
        sa.Column("detail", sa.String(500), nullable=True),
    )
    make_append_only("staff_actions")


def make_append_only(table: str) -> None:
    """Triggers that refuse UPDATE and DELETE on `table` (PostgreSQL and SQLite)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE OR REPLACE FUNCTION refuse_audit_rewrite() RETURNS trigger LANGUAGE plpgsql "
            "AS $$ BEGIN RAISE EXCEPTION 'audit records are append-only (%)', TG_TABLE_NAME; "
            "END $$"
        )
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION refuse_audit_rewrite()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION refuse_audit_rewrite()"
        )
        return
    for event in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON {table} "
            "BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END"
        )


def add_outbox_trace_context_v1() -> None:
    """The W3C trace context (traceparent/tracestate, JSON) of the request or message that
    enqueued an event, so the relay publishes it inside the same trace. Nullable: rows enqueued
    before this revision, or with tracing off, simply start no parent."""
    op.add_column("outbox", sa.Column("trace_context", sa.Text, nullable=True))


def drop_outbox_trace_context_v1() -> None:
    with op.batch_alter_table("outbox") as batch:  # SQLite cannot drop a column in place
        batch.drop_column("trace_context")


def create_outbox_unpublished_index_v1() -> None:
    """The relay and housekeeping look for unpublished (and long-published) rows in id order:
    without this index each poll scans the whole table."""
    op.create_index("ix_outbox_unpublished", "outbox", ["published_at", "id"])


def drop_outbox_unpublished_index_v1() -> None:
    op.drop_index("ix_outbox_unpublished", "outbox")


def create_processed_events_index_v1() -> None:
    """Housekeeping prunes processed_events older than the redelivery horizon by processed_at."""
    op.create_index("ix_processed_events_processed_at", "processed_events", ["processed_at"])


def drop_processed_events_index_v1() -> None:
    op.drop_index("ix_processed_events_processed_at", "processed_events")
