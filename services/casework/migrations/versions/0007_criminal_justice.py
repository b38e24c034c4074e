"""Criminal-justice support: each case's engagement with the investigation (state, booking),
its append-only history, and the claims that make each reminder before a booked date fire once.
No free-text column: nothing of what was said can be stored.

Revision ID: casework_0007
"""

import sqlalchemy as sa
from alembic import op

from shared.migration_steps import make_append_only

revision = "casework_0007"
down_revision = "casework_0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "criminal_justice",
        sa.Column("case_reference", sa.String(32), primary_key=True),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("booking_id", sa.String(64), nullable=True),
        sa.Column("booking_kind", sa.String(16), nullable=True),
        sa.Column("booked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=False),
    )
    op.create_table(
        "criminal_justice_history",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_reference", sa.String(32), nullable=False),
        sa.Column("from_state", sa.String(32), nullable=False),
        sa.Column("to_state", sa.String(32), nullable=False),
        sa.Column("booking_id", sa.String(64), nullable=True),
        sa.Column("booking_kind", sa.String(16), nullable=True),
        sa.Column("booked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_criminal_justice_history_case_reference",
        "criminal_justice_history",
        ["case_reference"],
    )
    make_append_only("criminal_justice_history")
    op.create_table(
        "criminal_justice_reminders",
        sa.Column("booking_id", sa.String(64), primary_key=True),
        sa.Column("offset_key", sa.String(32), primary_key=True),
        sa.Column("case_reference", sa.String(32), nullable=False),
        sa.Column("sent", sa.Boolean, nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("criminal_justice_reminders")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER criminal_justice_history_append_only ON criminal_justice_history")
        op.execute("DROP TRIGGER criminal_justice_history_no_truncate ON criminal_justice_history")
    else:
        op.execute("DROP TRIGGER criminal_justice_history_no_update")
        op.execute("DROP TRIGGER criminal_justice_history_no_delete")
    op.drop_index("ix_criminal_justice_history_case_reference", "criminal_justice_history")
    op.drop_table("criminal_justice_history")
    op.drop_table("criminal_justice")
