"""Operations: the trace context of each outbox row, so the relay publishes inside the trace that
enqueued it; and indexes for the relay's and housekeeping's scans of the outbox and of
processed_events.

Revision ID: meeting_scheduler_0008
"""

from shared.migration_steps import (
    add_outbox_trace_context_v1,
    create_outbox_unpublished_index_v1,
    create_processed_events_index_v1,
    drop_outbox_trace_context_v1,
    drop_outbox_unpublished_index_v1,
    drop_processed_events_index_v1,
)

revision = "meeting_scheduler_0008"
down_revision = "meeting_scheduler_0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_outbox_trace_context_v1()
    create_outbox_unpublished_index_v1()
    create_processed_events_index_v1()


def downgrade() -> None:
    drop_processed_events_index_v1()
    drop_outbox_unpublished_index_v1()
    drop_outbox_trace_context_v1()
