"""The directory of local services for onward referral, and the district of each case.

`directory_entries` holds one organisation a row: the needs it meets, the districts it covers and
how to refer (JSON lists: the directory is small and read whole), eligibility notes, opening hours,
the date its entry must be reviewed by, and when it was retired (kept, never deleted, so a task's
history still names an organisation that existed). `cases.district` lets casework suggest the
organisations covering a case's district; cases opened before this revision have none (NULL).

Revision ID: casework_0006
"""

import sqlalchemy as sa
from alembic import op

revision = "casework_0006"
down_revision = "casework_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "directory_entries",
        sa.Column("entry_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("needs", sa.JSON, nullable=False),
        sa.Column("districts", sa.JSON, nullable=False),
        sa.Column("referral", sa.JSON, nullable=False),
        sa.Column("eligibility", sa.String(1000), nullable=True),
        sa.Column("opening_hours", sa.String(500), nullable=True),
        sa.Column("review_date", sa.Date, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.add_column("cases", sa.Column("district", sa.String(32), nullable=True))


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN (SQLite 3.35+ and PostgreSQL): no table copy.
    op.drop_column("cases", "district")
    op.drop_table("directory_entries")
