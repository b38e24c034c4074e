"""Leave and cover stored from the console (read with the rota file's overrides), and the
append-only record of staff actions (shared/audit.py).

Revision ID: notifier_0004
"""

import sqlalchemy as sa
from alembic import op

from shared.migration_steps import create_staff_actions_v1

revision = "notifier_0004"
down_revision = "notifier_0003"
branch_labels = None
depends_on = None

WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "rota_changes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("starts_local", sa.DateTime(timezone=False), nullable=False),
        sa.Column("ends_local", sa.DateTime(timezone=False), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("removed_at", WHEN, nullable=True),
        sa.Column("removed_by", sa.String(64), nullable=True),
    )
    op.create_index("ix_rota_changes_live", "rota_changes", ["removed_at", "ends_local"])
    create_staff_actions_v1()


def downgrade() -> None:
    # The audit table's triggers go with it (SQLite and PostgreSQL drop a table's triggers).
    op.drop_table("staff_actions")
    op.drop_index("ix_rota_changes_live", "rota_changes")
    op.drop_table("rota_changes")
