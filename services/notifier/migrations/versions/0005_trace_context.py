"""Operations: the trace context of each outbox row, alert and notification, so the relay
publishes, and the dispatcher sends each SMS, voice call or e-mail, inside the trace of the
contact that caused it; and indexes for the relay's and housekeeping's scans of the outbox and of
processed_events.

Revision ID: notifier_0005
"""

import sqlalchemy as sa
from alembic import op

from shared.migration_steps import (
    add_outbox_trace_context_v1,
    create_outbox_unpublished_index_v1,
    create_processed_events_index_v1,
    drop_outbox_trace_context_v1,
    drop_outbox_unpublished_index_v1,
    drop_processed_events_index_v1,
)

revision = "notifier_0005"
down_revision = "notifier_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_outbox_trace_context_v1()
    create_outbox_unpublished_index_v1()
    create_processed_events_index_v1()
    # Nullable: alerts and notifications stored before this revision have no parent span. The
    # alert's is the referral consumer's; its steps fire later, from a timer, and copy it.
    op.add_column("alerts", sa.Column("trace_context", sa.Text, nullable=True))
    op.add_column("notifications", sa.Column("trace_context", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("notifications") as batch:  # SQLite cannot drop a column in place
        batch.drop_column("trace_context")
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("trace_context")
    drop_processed_events_index_v1()
    drop_outbox_unpublished_index_v1()
    drop_outbox_trace_context_v1()
