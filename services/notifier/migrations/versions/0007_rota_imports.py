"""Rota changes imported from a calendar: the calendar, event and occurrence each came from, so
importing again updates or removes exactly the changes that calendar made.

Revision ID: notifier_0007
"""

import sqlalchemy as sa
from alembic import op

revision = "notifier_0007"
down_revision = "notifier_0006"
branch_labels = None
depends_on = None

LIVE = sa.text("removed_at IS NULL")


def upgrade() -> None:
    # Nullable: every change stored so far was added by hand, and the import never touches those.
    op.add_column("rota_changes", sa.Column("import_source", sa.String(40), nullable=True))
    op.add_column("rota_changes", sa.Column("import_uid", sa.String(64), nullable=True))
    op.add_column("rota_changes", sa.Column("import_occurrence", sa.String(40), nullable=True))
    op.create_index(
        "uq_rota_changes_imported",
        "rota_changes",
        ["import_source", "import_uid", "import_occurrence"],
        unique=True,
        sqlite_where=LIVE,
        postgresql_where=LIVE,
    )


def downgrade() -> None:
    op.drop_index("uq_rota_changes_imported", "rota_changes")
    with op.batch_alter_table("rota_changes") as batch:  # SQLite cannot drop a column in place
        batch.drop_column("import_occurrence")
        batch.drop_column("import_uid")
        batch.drop_column("import_source")
