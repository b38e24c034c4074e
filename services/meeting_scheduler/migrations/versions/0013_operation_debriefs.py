"""Police operations announced ahead (issue #15 part 3): each operation's latest version and the
case-panel meeting its debrief goes on; per case, its operation group and the facts the debrief
counts (child or not, NRM consent, when the police met them), never an identity.

Revision ID: meeting_scheduler_0013
"""

import sqlalchemy as sa
from alembic import op

revision = "meeting_scheduler_0013"
down_revision = "meeting_scheduler_0012"
branch_labels = None
depends_on = None

WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "operation_debriefs",
        sa.Column("operation_group", sa.String(80), primary_key=True),
        sa.Column("operation", sa.String(64), nullable=False),
        sa.Column("district", sa.String(32), nullable=False),
        sa.Column("starts_at", WHEN, nullable=False),
        sa.Column("ends_at", WHEN, nullable=False),
        sa.Column("expected_victims", sa.Integer, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("meeting_series", sa.String(64), nullable=False),
        sa.Column("meeting_starts_at", WHEN, nullable=False),
    )
    op.create_index(
        "ix_operation_debriefs_meeting_starts_at", "operation_debriefs", ["meeting_starts_at"]
    )
    op.create_table(
        "operation_contacts",
        sa.Column("case_reference", sa.String(32), primary_key=True),
        sa.Column("operation_group", sa.String(200), nullable=False),
        sa.Column("child", sa.Boolean, nullable=False),
        sa.Column("nrm_consent", sa.String(16), nullable=False),
        sa.Column("recorded_at", WHEN, nullable=False),
    )
    op.create_index(
        "ix_operation_contacts_operation_group", "operation_contacts", ["operation_group"]
    )


def downgrade() -> None:
    op.drop_index("ix_operation_contacts_operation_group", "operation_contacts")
    op.drop_table("operation_contacts")
    op.drop_index("ix_operation_debriefs_meeting_starts_at", "operation_debriefs")
    op.drop_table("operation_debriefs")
