"""Operations: the trace context of each outbox row, so the relay publishes inside the trace that
enqueued it; and an index for the relay's and housekeeping's scans of unpublished rows.

Revision ID: intake_0005
"""

from shared.migration_steps import (
    add_outbox_trace_context_v1,
    create_outbox_unpublished_index_v1,
    drop_outbox_trace_context_v1,
    drop_outbox_unpublished_index_v1,
)

revision = "intake_0005"
down_revision = "intake_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_outbox_trace_context_v1()
    create_outbox_unpublished_index_v1()


def downgrade() -> None:
    drop_outbox_unpublished_index_v1()
    drop_outbox_trace_context_v1()
