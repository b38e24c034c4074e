"""The agenda's "Assigned advisor": who acknowledged each case's alert (AlertAcknowledgedV1 on the
alerts topic), kept per case, and a mark on each agenda item saying whether it was listed while
acknowledgements were recorded. Items listed before this revision carry False, so one whose
acknowledgement is not found prints "not recorded" rather than "not yet acknowledged".

Revision ID: meeting_scheduler_0011
"""

import sqlalchemy as sa
from alembic import op

revision = "meeting_scheduler_0011"
down_revision = "meeting_scheduler_0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_advisors",
        sa.Column("case_reference", sa.String(32), primary_key=True),
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("alert_id", sa.String(64), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("agenda_items") as batch:
        batch.add_column(
            sa.Column("advisor_recorded", sa.Boolean, nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("agenda_items") as batch:
        batch.drop_column("advisor_recorded")
    op.drop_table("case_advisors")
